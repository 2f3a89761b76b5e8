//! `get` in a terminal: bars while it works, and once it is done only the
//! summary lines.

use super::*;

#[test]
fn get_leaves_only_its_summary_on_the_screen() {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(served.port(), dir.path(), &["get", "notes.txt"]);
    let (code, screen) = term.wait_exit();
    assert_eq!(code, 0, "{screen}");
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(
        rows.len(),
        1,
        "one summary line and nothing else:\n{screen}"
    );
    assert!(rows[0].starts_with("notes.txt: 41 B in "), "{screen}");
}

#[test]
fn get_of_several_files_leaves_one_line_per_file_and_a_total() {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(
        served.port(),
        dir.path(),
        &["get", "-j", "4", "notes.txt", "photo.jpg", "one"],
    );
    let (code, screen) = term.wait_exit();
    assert_eq!(code, 0, "{screen}");
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(rows.len(), 4, "three files and a total:\n{screen}");
    assert!(rows[0].starts_with("notes.txt: 41 B in "), "{screen}");
    assert!(rows[1].starts_with("photo.jpg: 1.5 KiB in "), "{screen}");
    assert!(rows[2].starts_with("one: 1 B in "), "{screen}");
    assert!(rows[3].starts_with("3 of 3 files: "), "{screen}");
    assert!(!screen.contains('['), "no bar left behind:\n{screen}");
}

#[test]
fn the_shell_prompt_does_not_erase_the_summary_of_get() {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(served.port(), dir.path(), &["shell"]);
    term.wait_for("hftp>");
    term.line("get notes.txt");
    // The next prompt, on a line of its own.
    let screen = term.wait_until("a second prompt", |s| s.matches("hftp>").count() == 2);
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows
        .iter()
        .position(|r| r.starts_with("hftp> get notes.txt"))
        .unwrap();
    assert!(
        rows[at + 1].starts_with("notes.txt: 41 B in "),
        "the summary under the command:\n{screen}"
    );
    assert_eq!(rows[at + 2], "hftp>", "then the prompt:\n{screen}");
    term.line("quit");
    assert_eq!(term.wait_exit().0, 0);
}

#[test]
fn bars_drawn_during_a_long_get_are_all_cleared() {
    let big = common::binary(24 << 20);
    let served = Served::new(&[("big", &big), ("small", b"12345")]);
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(
        served.port(),
        dir.path(),
        &["get", "-j", "2", "big", "small"],
    );
    let (code, _) = term.wait_exit();
    let history = term.history();
    assert_eq!(code, 0, "{history}");
    assert!(
        // The prefix is bold: `ESC [1m big ESC [0m [`.
        term.raw().contains("big\u{1b}[0m ["),
        "the bar of big was drawn while it downloaded: {}",
        term.raw()
    );
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(rows.len(), 3, "two summaries and a total:\n{history}");
    assert!(rows[0].starts_with("big: 24.0 MiB in "), "{history}");
    assert!(rows[1].starts_with("small: 5 B in "), "{history}");
    assert!(rows[2].starts_with("2 of 2 files: "), "{history}");
}
