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
