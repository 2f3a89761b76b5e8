//! `shell` in a terminal: pastes, quoting, the server's idle timeout,
//! Ctrl-C during a command, and what a script sees.

use std::time::Duration;

use hftp_server::ServerOptions;

use super::*;
use common::{Fake, Reply};

/// Whether a row of `screen` is these words (a tab shows as spaces).
fn has_row(screen: &str, words: &[&str]) -> bool {
    screen
        .lines()
        .any(|l| l.split_whitespace().eq(words.iter().copied()))
}

/// The screen once `count` prompts are on it.
fn prompts(term: &Terminal, count: usize) -> String {
    term.wait_until(&format!("{count} prompts"), |s| {
        s.matches("hftp>").count() >= count
    })
}

#[test]
fn a_paste_of_several_lines_runs_each_of_them() {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(served.port(), dir.path(), &["shell"]);
    prompts(&term, 1);
    // What a terminal sends for a paste while bracketed paste is on; as
    // in bash, the pasted lines run on Enter.
    term.send("\x1b[200~stat one\rstat notes.txt\r\x1b[201~");
    term.send("\r");
    let screen = term.wait_until("both answers", |s| has_row(s, &["notes.txt", "41"]));
    assert!(has_row(&screen, &["one", "1"]), "{screen}");
    // And a paste from a terminal without bracketed paste, at the prompt.
    prompts(&term, 2);
    term.send("stat empty\rstat photo.jpg\r");
    let screen = term.wait_until("both answers", |s| has_row(s, &["photo.jpg", "1536"]));
    assert!(has_row(&screen, &["empty", "0"]), "{screen}");
    term.line("quit");
    assert_eq!(term.wait_exit().0, 0);
}

#[test]
fn quoted_names_are_one_word_and_unbalanced_quotes_are_said() {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(served.port(), dir.path(), &["shell"]);
    prompts(&term, 1);
    term.line("stat 'with space.txt'");
    let screen = prompts(&term, 2);
    assert!(
        screen.contains(
            "hftp-client: stat \"with space.txt\": invalid file name: the file name holds a space"
        ),
        "{screen}"
    );
    term.line("stat 'notes.txt");
    let screen = prompts(&term, 3);
    assert!(
        screen.contains("hftp-client: shell: unbalanced quotes"),
        "{screen}"
    );
    term.line("quit");
    assert_eq!(term.wait_exit().0, 1, "a usage error was made");
}

#[test]
fn the_first_command_after_the_servers_idle_timeout_works() {
    let served = Served::with_options(
        &[("one", b"1")],
        ServerOptions {
            idle_timeout: Duration::from_millis(300),
            ..ServerOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(served.port(), dir.path(), &["shell"]);
    prompts(&term, 1);
    // Until the server has closed the idle connection.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while served.open_connections() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server kept the idle connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    term.line("stat one");
    let screen = prompts(&term, 2);
    assert!(has_row(&screen, &["one", "1"]), "{screen}");
    assert!(!screen.contains("hftp-client:"), "no error: {screen}");
    term.line("quit");
    assert_eq!(term.wait_exit().0, 0);
}

#[test]
fn ctrl_c_cancels_the_running_command_only() {
    // A download that stalls after its first bytes.
    let fake = Fake::new(|line| match line {
        "get_file_listing" => Reply::Send(b"0 OK\r\nbig\r\n\r\n".to_vec()),
        "get_metadata big" => Reply::Send(b"0 OK\r\n1000000\r\n".to_vec()),
        l if l.starts_with("get_slice big") => Reply::Send(b"0 OK\r\nIVF1ZSBjYWxv".to_vec()),
        "quit" => Reply::Close(b"0 OK\r\n".to_vec()),
        _ => Reply::Send(b"200 NO SUCH COMMAND\r\n".to_vec()),
    });
    let dir = tempfile::tempdir().unwrap();
    let mut term = Terminal::spawn(command(
        env!("CARGO_BIN_EXE_hftp-client"),
        &["-p", &fake.port.to_string(), "--timeout", "60", "shell"],
        dir.path(),
    ));
    prompts(&term, 1);
    term.line("get big");
    // Once the first bytes are in (the bar says so), as in the test below.
    term.wait_for("9 B/976.56 KiB");
    term.send("\x03");
    let screen = prompts(&term, 2);
    assert!(
        screen.contains(
            "hftp-client: get big: interrupted; big.part is kept (9 B): run again with -c to resume"
        ),
        "{screen}"
    );
    // The session goes on, on a new connection.
    term.line("ls");
    let screen = prompts(&term, 3);
    assert!(screen.lines().any(|l| l == "big"), "{screen}");
    term.line("quit");
    assert_eq!(term.wait_exit().0, 0);
    let history = std::fs::read_to_string(dir.path().join(".hftp_history")).unwrap();
    assert!(
        history.contains("get big") && history.contains("ls"),
        "{history}"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("big.part"))
            .unwrap()
            .len(),
        9
    );
}

#[test]
fn ctrl_c_during_get_keeps_the_part_and_says_how_to_resume() {
    let fake = Fake::new(|line| match line {
        "get_metadata big" => Reply::Send(b"0 OK\r\n1000000\r\n".to_vec()),
        l if l.starts_with("get_slice big") => Reply::Send(b"0 OK\r\nIVF1ZSBjYWxv".to_vec()),
        _ => Reply::Send(b"200 NO SUCH COMMAND\r\n".to_vec()),
    });
    let dir = tempfile::tempdir().unwrap();
    let mut term = Terminal::spawn(command(
        env!("CARGO_BIN_EXE_hftp-client"),
        &[
            "-p",
            &fake.port.to_string(),
            "--timeout",
            "60",
            "get",
            "big",
        ],
        dir.path(),
    ));
    // Once the 9 bytes the fake sends are in (the bar says so): a Ctrl-C
    // sooner, on a loaded machine, would find nothing to keep.
    term.wait_for("9 B/976.56 KiB");
    term.send("\x03");
    let (code, screen) = term.wait_exit();
    assert_eq!(code, 130, "{screen}");
    // The bar stays as it was when Ctrl-C came (the terminal echoed `^C`
    // over it), then the line that says what to do.
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(
        rows.last().copied(),
        Some("hftp-client: get big: interrupted; big.part is kept (9 B): run again with -c to resume"),
        "{screen}"
    );
    assert!(
        rows[..rows.len() - 1]
            .iter()
            .all(|r| r.starts_with("big [")),
        "{screen}"
    );
}

#[test]
fn tab_completes_names_options_and_local_paths() {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mirror")).unwrap();
    let mut term = client(served.port(), dir.path(), &["shell"]);
    prompts(&term, 1);
    term.send("get pho\t");
    term.wait_until("the file name", |s| s.contains("hftp> get photo.jpg"));
    // As in bash: the first Tab beeps (two candidates), the second lists.
    term.send("--con\t\t");
    term.wait_until("both options listed", |s| {
        s.contains("--continue") && s.contains("--connections")
    });
    term.send("t\t-O mi\t");
    term.wait_until("the local directory", |s| {
        s.contains("hftp> get photo.jpg --continue -O mirror/")
    });
    term.send("\r");
    term.wait_for("photo.jpg: 1.5 KiB in ");
    assert!(dir.path().join("mirror/photo.jpg").is_file());
    term.line("quit");
    assert_eq!(term.wait_exit().0, 0);
}
