//! What `get` shows while it works, on standard error: indicatif bars on a
//! terminal (one for the file in progress, bytes, rate and ETA, plus a
//! total when there are several files), one plain summary line per file
//! when standard error is not a terminal, nothing with `-q`.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hftp_client::{Downloaded, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fail::Failure;
use crate::size;

const FILE_TEMPLATE: &str =
    "{prefix:.bold} [{wide_bar:.cyan/blue}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";
const TOTAL_TEMPLATE: &str =
    "{prefix:.bold} [{wide_bar:.green/blue}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}";

/// How progress is shown.
enum Mode {
    /// `-q`: nothing.
    Quiet,
    /// Not a terminal: a line per finished file.
    Lines,
    /// A terminal: bars.
    Bars(MultiProgress),
}

/// The progress display of one `get` (all its files).
pub struct Reporter {
    mode: Mode,
    /// The bar of all files together (bars mode, several files).
    total: Option<ProgressBar>,
    files: usize,
    /// Files finished so far.
    finished: AtomicUsize,
    started: Instant,
}

impl Reporter {
    /// A display for `files` files of `bytes` bytes in all. Bars only when
    /// standard error is a terminal.
    pub fn new(quiet: bool, files: usize, bytes: u64) -> Self {
        let mode = match (quiet, io::stderr().is_terminal()) {
            (true, _) => Mode::Quiet,
            (false, false) => Mode::Lines,
            (false, true) => {
                Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            }
        };
        let total = match &mode {
            Mode::Bars(multi) if files > 1 => {
                let bar = multi.add(ProgressBar::with_draw_target(
                    Some(bytes),
                    ProgressDrawTarget::hidden(),
                ));
                bar.set_style(style(TOTAL_TEMPLATE));
                bar.set_prefix("total");
                bar.set_message(format!("0/{files} files"));
                Some(bar)
            }
            _ => None,
        };
        Reporter {
            mode,
            total,
            files,
            finished: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    /// Starts showing the download of `name` (`size` bytes).
    pub fn file(&self, name: &str, size: u64) -> FileProgress<'_> {
        let bar = match &self.mode {
            Mode::Bars(multi) => {
                // Joins the display hidden, and only then gets its style
                // and prefix: a change to a bar that has not joined yet is
                // drawn straight to the terminal, and stays there.
                let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::hidden());
                // Above the total bar, which stays at the bottom.
                let bar = match &self.total {
                    Some(total) => multi.insert_before(total, bar),
                    None => multi.add(bar),
                };
                bar.set_style(style(FILE_TEMPLATE));
                bar.set_prefix(name.to_owned());
                Some(bar)
            }
            _ => None,
        };
        FileProgress {
            reporter: self,
            bar,
            name: name.to_owned(),
            size,
            seen: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Reports a failure without garbling the bars.
    pub fn error(&self, failure: &Failure) {
        match &self.mode {
            Mode::Bars(multi) => multi.suspend(|| failure.report()),
            _ => failure.report(),
        };
    }

    /// A line above the bars, or on its own.
    fn line(&self, line: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                let _ = writeln!(io::stderr().lock(), "{line}");
            }
            // Written while the bars are hidden, ending in a newline
            // (`MultiProgress::println` leaves the last line of a display
            // with no bars open, and a prompt drawn next erases it).
            Mode::Bars(multi) => multi.suspend(|| {
                let _ = writeln!(io::stderr().lock(), "{line}");
            }),
        }
    }

    /// Ends the display; with several files, a last line for all of them
    /// (`bytes`: the size of the files that arrived).
    pub fn finish(self, bytes: u64) {
        let done = self.finished.load(Ordering::Relaxed);
        if let Some(total) = &self.total {
            total.finish_and_clear();
        }
        if self.files > 1 {
            let elapsed = self.started.elapsed();
            self.line(&format!(
                "{done} of {} files: {} in {}",
                self.files,
                size::long(bytes),
                rate(bytes, elapsed)
            ));
        }
    }
}

/// The progress of one file.
pub struct FileProgress<'a> {
    reporter: &'a Reporter,
    bar: Option<ProgressBar>,
    name: String,
    size: u64,
    /// The highest `done` seen (callbacks from several connections may
    /// arrive out of order).
    seen: AtomicU64,
    started: Instant,
}

impl FileProgress<'_> {
    /// The download's progress callback.
    pub fn update(&self, progress: Progress) {
        let before = self.seen.fetch_max(progress.done, Ordering::Relaxed);
        if progress.done <= before {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(progress.done);
            if before == 0 {
                // Bytes a resume found in place are not a transfer rate.
                bar.reset_eta();
            }
        }
        if let Some(total) = &self.reporter.total {
            total.inc(progress.done - before);
        }
    }

    /// The file is in place at `dest` (`replaced`: over a file that was
    /// there): its summary line.
    pub fn done(self, dest: &Path, downloaded: &Downloaded, replaced: bool) {
        self.clear();
        let finished = self.reporter.finished.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(total) = &self.reporter.total {
            // A file whose size changed since it was listed.
            let seen = self.seen.load(Ordering::Relaxed);
            if downloaded.size > seen {
                total.inc(downloaded.size - seen);
            }
            total.set_message(format!("{finished}/{} files", self.reporter.files));
        }
        let fetched = downloaded.size - downloaded.resumed_from;
        let mut line = if fetched == 0 && downloaded.size > 0 {
            format!("{}: already complete", self.name)
        } else {
            format!(
                "{}: {} in {}",
                self.name,
                size::long(fetched),
                rate(fetched, self.started.elapsed())
            )
        };
        if downloaded.resumed_from > 0 && fetched > 0 {
            line.push_str(&format!(
                ", resumed after {}",
                size::long(downloaded.resumed_from)
            ));
        }
        if dest != Path::new(&self.name) {
            line.push_str(&format!(" -> {}", dest.display()));
        }
        if replaced && fetched > 0 {
            line.push_str(" (replaced the existing file)");
        }
        self.reporter.line(&line);
    }

    /// The download failed: the bar goes, and its bytes leave the total.
    pub fn failed(self) {
        self.clear();
        if let Some(total) = &self.reporter.total {
            let seen = self.seen.load(Ordering::Relaxed);
            total.set_position(total.position().saturating_sub(seen));
            total.set_length(total.length().unwrap_or(0).saturating_sub(self.size));
        }
    }

    fn clear(&self) {
        if let (Some(bar), Mode::Bars(multi)) = (&self.bar, &self.reporter.mode) {
            bar.finish_and_clear();
            multi.remove(bar);
        }
    }
}

/// `0.25 s (1.5 MiB/s)`.
fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let per_sec = match secs > 0.0 {
        true => (bytes as f64 / secs) as u64,
        false => 0,
    };
    format!("{secs:.2} s ({}/s)", size::long(per_sec))
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert!(ProgressStyle::with_template(FILE_TEMPLATE).is_ok());
        assert!(ProgressStyle::with_template(TOTAL_TEMPLATE).is_ok());
    }
}
