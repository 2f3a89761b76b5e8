//! The HTML report (`--html FILE`): one self-contained page, CSS and a
//! few lines of script inline, nothing fetched, so it opens from disk
//! offline and can be mailed or attached as it is.
//!
//! The page has, in order:
//!
//! - per-target totals, a `<table id="totals">` whose rows carry
//!   `data-target` and `data-pass`, `data-fail`, `data-non-strict`,
//!   `data-info`, `data-skip` (the counts);
//! - the matrix, `<table id="matrix">`: one row per target, one column
//!   per case ID (every target's IDs, in the order first seen), each cell
//!   `class="v-<verdict>" data-verdict="<verdict>"` with the verdict
//!   written in it too (colour is not the only cue). A case a target did
//!   not run is `v-none` / `data-verdict="none"`. Column headers show the
//!   ID rotated, with the ID, tier and requirement in their `title`;
//! - the details: per target a `<section data-target=..>` with the same
//!   counts, and a `<details id="d-<target>-<case>">` for each case that
//!   did not simply pass (`<target>` is the target's index in the report,
//!   `<case>` the case's index in that target's results). A matrix cell
//!   of such a case links to it, and the script opens the `<details>`
//!   that `location.hash` names, on load and on every change of hash.
//!
//! All text is escaped with `html-escape`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::check::model::{CaseResult, TargetReport, Verdict};
use crate::size;

/// The page's title.
const TITLE: &str = "HFTP conformance report";

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .3em; }
h2 { font-size: 1.25em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #c8c8c8; padding: 2px 6px; }
th { background: #f3f3f3; }
#totals td.n { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; max-width: 100%; }
#matrix th.case { vertical-align: bottom; padding: 4px 1px; font-weight: normal; }
#matrix th.case span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap;
  font: 12px ui-monospace, monospace; display: inline-block; max-height: 22em; overflow: hidden; text-overflow: ellipsis; }
#matrix th.target { position: sticky; left: 0; text-align: left; white-space: nowrap; z-index: 1; }
#matrix td { text-align: center; font: 11px ui-monospace, monospace; padding: 2px 3px; white-space: nowrap; }
#matrix td a { color: inherit; text-decoration: underline dotted; display: block; }
.v-pass { background: #c8e6c9; color: #1b4d1e; }
.v-fail { background: #f4a3a3; color: #6b0000; font-weight: bold; }
.v-non-strict { background: #ffe08a; color: #4d3800; }
.v-info { background: #b6e3fa; color: #003f5e; }
.v-skip { background: #e2e2e2; color: #3a3a3a; }
.v-none { background: #fff; color: #8a8a8a; }
.badge { padding: 0 .4em; border-radius: 3px; font: bold 12px ui-monospace, monospace; }
.legend span { margin-right: .6em; }
.error { color: #8b0000; font-weight: bold; }
section.target { margin-bottom: 1.2em; }
details { margin: .35em 0; border-left: 6px solid #c8c8c8; padding: .2em .7em; }
details[data-verdict="fail"] { border-left-color: #c62828; }
details[data-verdict="non-strict"] { border-left-color: #d4a000; }
details[data-verdict="info"] { border-left-color: #0277bd; }
details[data-verdict="skip"] { border-left-color: #8a8a8a; }
details:target, details[open] { background: #fafafa; }
summary { cursor: pointer; }
dt { font-weight: bold; margin-top: .4em; }
dd { margin-left: 1em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f3f3f3; padding: .4em .6em; margin: .2em 0; }
"#;

/// Opens the `<details>` that the URL's fragment names: on load, when
/// the fragment changes, and when a link to the fragment already in the
/// URL is clicked again (no change, so no `hashchange`).
const SCRIPT: &str = r##"
(function () {
  function openNamed(hash) {
    var id = decodeURIComponent((hash || "").replace(/^#/, ""));
    if (!id) return;
    var d = document.getElementById(id);
    if (d && d.tagName === "DETAILS") {
      d.open = true;
      d.scrollIntoView({ block: "nearest" });
    }
  }
  window.addEventListener("hashchange", function () { openNamed(location.hash); });
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest('a[href^="#d-"]');
    if (a) openNamed(a.getAttribute("href"));
  });
  openNamed(location.hash);
})();
"##;

/// Writes `reports` as one HTML page to `out`.
pub fn write(reports: &[TargetReport], out: &mut dyn io::Write) -> io::Result<()> {
    out.write_all(render(reports).as_bytes())
}

/// A case ID that is a matrix column, with the first result seen for it
/// (for its tier and requirement).
struct Column<'a> {
    id: &'a str,
    first: &'a CaseResult,
}

/// Every target's case IDs, in the order first seen.
fn columns(reports: &[TargetReport]) -> Vec<Column<'_>> {
    let mut seen = HashMap::new();
    let mut columns = Vec::new();
    for case in reports.iter().flat_map(|r| &r.results) {
        seen.entry(case.id.as_str()).or_insert_with(|| {
            columns.push(Column {
                id: &case.id,
                first: case,
            });
        });
    }
    columns
}

/// The short text in a matrix cell.
fn cell_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::NonStrict => "N-S",
        other => other.label(),
    }
}

/// `data-pass="3" data-fail="0" ...` for a target.
fn count_attributes(report: &TargetReport) -> String {
    Verdict::ALL
        .iter()
        .map(|&v| format!(" data-{}=\"{}\"", v.key(), report.count(v)))
        .collect()
}

fn render(reports: &[TargetReport]) -> String {
    let columns = columns(reports);
    let mut page = String::with_capacity(16 * 1024);
    let cases: usize = reports.iter().map(|r| r.results.len()).sum();
    // `write!` to a String cannot fail.
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{TITLE}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{TITLE}</h1>\n<p>{} target{}, {} case ID{}, {cases} result{} in all.</p>\n",
        reports.len(),
        plural(reports.len()),
        columns.len(),
        plural(columns.len()),
        plural(cases),
    );
    totals(&mut page, reports);
    matrix(&mut page, reports, &columns);
    details(&mut page, reports);
    let _ = write!(page, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    page
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn totals(page: &mut String, reports: &[TargetReport]) {
    page.push_str(
        "<h2>Totals</h2>\n<table id=\"totals\">\n<thead><tr><th>Target</th><th>Checked</th>\
         <th>Passed</th><th>Failed</th><th>Non-strict</th><th>Info</th><th>Skipped</th>\
         <th>Peak RSS</th><th>Time</th><th>Error</th></tr></thead>\n<tbody>\n",
    );
    for (t, report) in reports.iter().enumerate() {
        let _ = write!(
            page,
            "<tr data-target=\"{}\"{}><th><a href=\"#t-{t}\">{}</a></th><td>{}</td>",
            attr(&report.name),
            count_attributes(report),
            text(&report.name),
            text(&report.target),
        );
        for verdict in Verdict::ALL {
            let _ = write!(
                page,
                "<td class=\"n\" data-count=\"{}\">{}</td>",
                verdict.key(),
                report.count(verdict)
            );
        }
        let rss = report.peak_rss.map(size::long).unwrap_or_default();
        let _ = writeln!(
            page,
            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"error\">{}</td></tr>",
            text(&rss),
            seconds(report.millis),
            text(report.error.as_deref().unwrap_or("")),
        );
    }
    page.push_str("</tbody>\n</table>\n");
}

fn matrix(page: &mut String, reports: &[TargetReport], columns: &[Column<'_>]) {
    page.push_str("<h2>Matrix</h2>\n<p class=\"legend\">");
    for verdict in Verdict::ALL {
        let _ = write!(
            page,
            "<span class=\"badge v-{}\">{}</span>",
            verdict.key(),
            cell_label(verdict)
        );
        let _ = write!(page, "{} ", text(verdict_meaning(verdict)));
    }
    page.push_str(
        "<span class=\"badge v-none\">—</span>not run. \
         Click a cell to see its details.</p>\n<div class=\"scroll\">\n<table id=\"matrix\">\n<thead><tr><th class=\"target\">Target</th>",
    );
    for column in columns {
        let title = format!(
            "{} ({}) — {}",
            column.id,
            column.first.tier.name(),
            column.first.requirement
        );
        let _ = write!(
            page,
            "<th class=\"case\" title=\"{}\"><span>{}</span></th>",
            attr(&title),
            text(column.id)
        );
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for (t, report) in reports.iter().enumerate() {
        // The first result for each ID, with its index.
        let mut by_id: HashMap<&str, (usize, &CaseResult)> = HashMap::new();
        for (c, case) in report.results.iter().enumerate() {
            by_id.entry(case.id.as_str()).or_insert((c, case));
        }
        let _ = write!(
            page,
            "<tr data-target=\"{}\"><th class=\"target\">{}</th>",
            attr(&report.name),
            text(&report.name)
        );
        for column in columns {
            match by_id.get(column.id) {
                None => {
                    let _ = write!(
                        page,
                        "<td class=\"v-none\" data-verdict=\"none\" title=\"{}\">—</td>",
                        attr(&format!("{}: not run", column.id))
                    );
                }
                Some(&(c, case)) => {
                    let key = case.verdict.key();
                    let title =
                        attr(&format!("{}: {}", case.id, case.verdict.label())).into_owned();
                    let label = cell_label(case.verdict);
                    if case.verdict == Verdict::Pass {
                        let _ = write!(
                            page,
                            "<td class=\"v-{key}\" data-verdict=\"{key}\" title=\"{title}\">{label}</td>"
                        );
                    } else {
                        let _ = write!(
                            page,
                            "<td class=\"v-{key}\" data-verdict=\"{key}\" title=\"{title}\"><a href=\"#d-{t}-{c}\">{label}</a></td>"
                        );
                    }
                }
            }
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n</div>\n");
}

fn verdict_meaning(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "passed",
        Verdict::Fail => "failed",
        Verdict::NonStrict => "non-strict (allowed by the course)",
        Verdict::Info => "information (the protocol leaves it open)",
        Verdict::Skip => "skipped",
    }
}

fn details(page: &mut String, reports: &[TargetReport]) {
    page.push_str("<h2>Details</h2>\n");
    for (t, report) in reports.iter().enumerate() {
        let _ = writeln!(
            page,
            "<section class=\"target\" id=\"t-{t}\" data-target=\"{}\"{}>\n<h3>{} <small>({})</small></h3>",
            attr(&report.name),
            count_attributes(report),
            text(&report.name),
            text(&report.target),
        );
        if let Some(error) = &report.error {
            let _ = writeln!(
                page,
                "<p class=\"error\">The check could not run to the end:</p>\n<pre>{}</pre>",
                text(error)
            );
        }
        let mut any = false;
        for (c, case) in report.results.iter().enumerate() {
            if case.verdict == Verdict::Pass {
                continue;
            }
            any = true;
            let key = case.verdict.key();
            let _ = write!(
                page,
                "<details id=\"d-{t}-{c}\" data-verdict=\"{key}\"><summary><span class=\"badge v-{key}\">{}</span> \
                 <code>{}</code> ({}) — {}</summary>\n<dl>\n<dt>Requirement</dt><dd>{}</dd>\n",
                case.verdict.label(),
                text(&case.id),
                case.tier.name(),
                text(&case.requirement),
                text(&case.requirement),
            );
            let actual_label = match case.verdict {
                Verdict::Info => "Found",
                Verdict::Skip => "Why skipped",
                _ => "Actual",
            };
            for (label, value) in [
                ("Expected", &case.expected),
                (actual_label, &case.actual),
                ("Transcript", &case.transcript),
            ] {
                if !value.is_empty() {
                    let _ = writeln!(page, "<dt>{label}</dt><dd><pre>{}</pre></dd>", text(value));
                }
            }
            let _ = writeln!(
                page,
                "<dt>Time</dt><dd>{} s</dd>\n</dl>\n</details>",
                seconds(case.millis)
            );
        }
        if !any {
            page.push_str("<p>Every case passed.</p>\n");
        }
        page.push_str("</section>\n");
    }
}

/// Milliseconds as seconds: `1.234`.
fn seconds(millis: u64) -> String {
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::Tier;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn case(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult::sample(id, Tier::Strict, format!("rule {id}"), verdict, 7)
    }

    /// Two targets: alpha ran five cases, one of each verdict; beta ran
    /// three (a FAIL, a PASS of an ID alpha did not run, a SKIP) and
    /// could not finish.
    fn sample() -> Vec<TargetReport> {
        let mut fail = case("2.1/framing/bare-cr", Verdict::Fail);
        fail.requirement = "a bare CR is \"refused\" & <logged>".into();
        fail.expected = "ERR 400".into();
        fail.actual = "OK <sent>".into();
        fail.transcript = "> #0 \"ls\\r\"\n< #4 \"</pre><script>alert(1)</script>\"".into();
        let mut non_strict = case("2.3/ls/order", Verdict::NonStrict);
        non_strict.expected = "byte order".into();
        non_strict.actual = "directory order".into();
        let mut info = case("3/get/idle", Verdict::Info);
        info.actual = "closes after 30 s".into();
        let mut skip = case("4/slow/reader", Verdict::Skip);
        skip.actual = "needs --server-cmd".into();
        vec![
            TargetReport {
                name: "alpha".into(),
                target: "127.0.0.1:7000".into(),
                results: vec![
                    case("1/connect/greeting", Verdict::Pass),
                    fail,
                    non_strict,
                    info,
                    skip.clone(),
                ],
                error: None,
                peak_rss: Some(3 << 20),
                millis: 1500,
            },
            TargetReport {
                name: "beta <b>\"&\"".into(),
                target: "./server --port 7001".into(),
                results: vec![
                    case("1/connect/greeting", Verdict::Fail),
                    case("5/only/beta", Verdict::Pass),
                    skip,
                ],
                error: Some("the server exited early: <status 1>".into()),
                peak_rss: None,
                millis: 20,
            },
        ]
    }

    fn render_sample() -> String {
        let mut out = Vec::new();
        write(&sample(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The text from `start` to the first `end` after it.
    fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
        let from = page
            .find(start)
            .unwrap_or_else(|| panic!("no {start:?} in\n{page}"));
        let len = page[from..]
            .find(end)
            .unwrap_or_else(|| panic!("no {end:?} after {start:?}"));
        &page[from..from + len + end.len()]
    }

    /// The start tag that begins with `start`.
    fn start_tag<'a>(page: &'a str, start: &str) -> &'a str {
        between(page, start, ">")
    }

    fn matrix_counts(page: &str) -> HashMap<String, usize> {
        let matrix = between(page, "<table id=\"matrix\"", "</table>");
        ["pass", "fail", "non-strict", "info", "skip", "none"]
            .iter()
            .map(|k| {
                let n = matrix.matches(&format!("data-verdict=\"{k}\"")).count();
                (k.to_string(), n)
            })
            .collect()
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = render_sample();
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(page.contains("<title>HFTP conformance report</title>"));
        assert!(page.contains("<h1>HFTP conformance report</h1>"));
        assert!(page.contains("<style>") && page.contains("<script>"));
        for external in ["http:", "https:", "src=", "<link", "@import", "url("] {
            assert!(!page.contains(external), "{external} in the page");
        }
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn totals_rows_and_sections_carry_the_counts() {
        let page = render_sample();
        let totals = between(&page, "<table id=\"totals\">", "</table>");
        assert_eq!(
            start_tag(totals, "<tr data-target=\"alpha\""),
            "<tr data-target=\"alpha\" data-pass=\"1\" data-fail=\"1\" data-non-strict=\"1\" data-info=\"1\" data-skip=\"1\">"
        );
        assert_eq!(
            start_tag(totals, "<tr data-target=\"beta"),
            "<tr data-target=\"beta &lt;b&gt;&quot;&amp;&quot;\" data-pass=\"1\" data-fail=\"1\" data-non-strict=\"0\" data-info=\"0\" data-skip=\"1\">"
        );
        assert!(totals.contains("<td class=\"n\">3.0 MiB</td><td class=\"n\">1.500</td>"));
        assert!(
            totals.contains("<td class=\"error\">the server exited early: &lt;status 1&gt;</td>")
        );
        assert!(totals.contains("<th><a href=\"#t-1\">beta &lt;b&gt;\"&amp;\"</a></th>"));
        assert_eq!(
            start_tag(&page, "<section class=\"target\" id=\"t-0\""),
            "<section class=\"target\" id=\"t-0\" data-target=\"alpha\" data-pass=\"1\" data-fail=\"1\" data-non-strict=\"1\" data-info=\"1\" data-skip=\"1\">"
        );
    }

    #[test]
    fn the_matrix_has_one_column_per_id_in_first_seen_order() {
        let page = render_sample();
        let matrix = between(&page, "<table id=\"matrix\"", "</table>");
        let head = between(matrix, "<thead>", "</thead>");
        let ids: Vec<&str> = head
            .split("<span>")
            .skip(1)
            .map(|s| &s[..s.find("</span>").unwrap()])
            .collect();
        assert_eq!(
            ids,
            [
                "1/connect/greeting",
                "2.1/framing/bare-cr",
                "2.3/ls/order",
                "3/get/idle",
                "4/slow/reader",
                "5/only/beta"
            ]
        );
        assert!(head.contains(
            "<th class=\"case\" title=\"2.1/framing/bare-cr (strict) — a bare CR is &quot;refused&quot; &amp; &lt;logged&gt;\"><span>2.1/framing/bare-cr</span></th>"
        ), "{head}");
        // 2 targets × 6 columns.
        assert_eq!(matrix.matches("<td ").count(), 12);
        let counts = matrix_counts(&page);
        assert_eq!(counts["pass"], 2);
        assert_eq!(counts["fail"], 2);
        assert_eq!(counts["non-strict"], 1);
        assert_eq!(counts["info"], 1);
        assert_eq!(counts["skip"], 2);
        assert_eq!(counts["none"], 4);
    }

    #[test]
    fn cells_are_labelled_and_link_to_their_details() {
        let page = render_sample();
        let matrix = between(&page, "<table id=\"matrix\"", "</table>");
        assert!(matrix.contains(
            "<td class=\"v-pass\" data-verdict=\"pass\" title=\"1/connect/greeting: PASS\">PASS</td>"
        ));
        assert!(matrix.contains(
            "<td class=\"v-fail\" data-verdict=\"fail\" title=\"2.1/framing/bare-cr: FAIL\"><a href=\"#d-0-1\">FAIL</a></td>"
        ));
        assert!(matrix.contains("data-verdict=\"non-strict\" title=\"2.3/ls/order: NON-STRICT\"><a href=\"#d-0-2\">N-S</a>"));
        assert!(matrix.contains("<a href=\"#d-0-3\">INFO</a>"));
        assert!(matrix.contains("<a href=\"#d-0-4\">SKIP</a>"));
        // beta: its case 2 is in column 4.
        assert!(matrix.contains("<a href=\"#d-1-0\">FAIL</a>"));
        assert!(matrix.contains("<a href=\"#d-1-2\">SKIP</a>"));
        // Every link has its details, and passes have none.
        for link in matrix.split("href=\"#").skip(1) {
            let id = &link[..link.find('"').unwrap()];
            assert!(
                page.contains(&format!("<details id=\"{id}\"")),
                "no details {id}"
            );
        }
        assert!(!page.contains("id=\"d-0-0\""));
        assert!(!page.contains("id=\"d-1-1\""));
    }

    #[test]
    fn details_escape_everything_and_start_closed() {
        let page = render_sample();
        let d = between(&page, "<details id=\"d-0-1\"", "</details>");
        assert!(d.contains("<summary><span class=\"badge v-fail\">FAIL</span> <code>2.1/framing/bare-cr</code> (strict) — a bare CR is \"refused\" &amp; &lt;logged&gt;</summary>"), "{d}");
        assert!(d.contains("<dt>Expected</dt><dd><pre>ERR 400</pre></dd>"));
        assert!(d.contains("<dt>Actual</dt><dd><pre>OK &lt;sent&gt;</pre></dd>"));
        assert!(d.contains(
            "<dt>Transcript</dt><dd><pre>&gt; #0 \"ls\\r\"\n&lt; #4 \"&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;\"</pre></dd>"
        ), "{d}");
        assert_eq!(page.matches("<script>").count(), 1);
        let info = between(&page, "<details id=\"d-0-3\"", "</details>");
        assert!(info.contains("<dt>Found</dt><dd><pre>closes after 30 s</pre></dd>"));
        let skip = between(&page, "<details id=\"d-0-4\"", "</details>");
        assert!(skip.contains("<dt>Why skipped</dt><dd><pre>needs --server-cmd</pre></dd>"));
        // The script opens them; none is open in the file itself.
        for tag in page.split("<details ").skip(1) {
            assert!(!tag[..tag.find('>').unwrap()].contains("open"), "{tag}");
        }
        let beta = between(&page, "<section class=\"target\" id=\"t-1\"", "</section>");
        assert!(beta.contains("<pre>the server exited early: &lt;status 1&gt;</pre>"));
    }

    #[test]
    fn no_targets_is_still_a_page() {
        let mut out = Vec::new();
        write(&[], &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("<p>0 targets, 0 case IDs, 0 results in all.</p>"));
        assert!(page.contains("<table id=\"matrix\">"));
        assert!(page.ends_with("</html>\n"));
    }

    /// The browser to run: `HFTP_CHROMIUM`, or /usr/bin/chromium.
    fn chromium() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("HFTP_CHROMIUM") {
            return Some(path.into());
        }
        let path = Path::new("/usr/bin/chromium");
        path.exists().then(|| path.to_path_buf())
    }

    /// `path` as a `file://` URL.
    fn file_url(path: &Path) -> String {
        let mut url = String::from("file://");
        for &b in path.to_str().unwrap().as_bytes() {
            if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                url.push(char::from(b));
            } else {
                let _ = write!(url, "%{b:02X}");
            }
        }
        url
    }

    /// The DOM of `url` after it loaded, as headless Chromium dumps it;
    /// Chromium is killed if it takes longer than a minute.
    fn dump_dom(browser: &Path, url: &str, profile: &Path) -> String {
        let mut child = Command::new(browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu"])
            .args(["--disable-dev-shm-usage", "--no-first-run"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--dump-dom", url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} --dump-dom took more than 60 s; killed it. Its stderr:\n{}",
                    browser.display(),
                    err.join().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let dom = out.join().unwrap().unwrap();
        let err = err.join().unwrap();
        assert!(
            status.success() && dom.contains("</html>"),
            "{} --dump-dom {url} failed ({status}); stderr:\n{err}",
            browser.display()
        );
        dom
    }

    #[test]
    fn a_browser_opens_the_details_the_url_names() {
        let Some(browser) = chromium() else {
            if std::env::var("HFTP_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
                panic!(
                    "HFTP_REQUIRE_CHROMIUM=1 but no browser: /usr/bin/chromium does not exist \
                     and HFTP_CHROMIUM is not set (apt-get install chromium)"
                );
            }
            eprintln!("note: no /usr/bin/chromium and no HFTP_CHROMIUM; the HTML report was not opened in a browser");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let mut file = std::fs::File::create(&path).unwrap();
        write(&sample(), &mut file).unwrap();
        drop(file);
        let profile = dir.path().join("profile");

        let dom = dump_dom(&browser, &format!("{}#d-0-1", file_url(&path)), &profile);
        // The matrix as the browser built it.
        let counts = matrix_counts(&dom);
        assert_eq!(
            [
                counts["pass"],
                counts["fail"],
                counts["non-strict"],
                counts["info"],
                counts["skip"],
                counts["none"]
            ],
            [2, 2, 1, 1, 2, 4],
            "{dom}"
        );
        // The totals.
        let totals = between(&dom, "<table id=\"totals\">", "</table>");
        let alpha = start_tag(totals, "<tr data-target=\"alpha\"");
        for (key, n) in [
            ("pass", 1),
            ("fail", 1),
            ("non-strict", 1),
            ("info", 1),
            ("skip", 1),
        ] {
            assert!(alpha.contains(&format!("data-{key}=\"{n}\"")), "{alpha}");
        }
        let beta = start_tag(totals, "<tr data-target=\"beta");
        for (key, n) in [
            ("pass", 1),
            ("fail", 1),
            ("non-strict", 0),
            ("info", 0),
            ("skip", 1),
        ] {
            assert!(beta.contains(&format!("data-{key}=\"{n}\"")), "{beta}");
        }
        // The target's name came through the escaping as it was.
        assert!(totals.contains(">beta &lt;b&gt;\"&amp;\"</a>"), "{totals}");
        // d-0-1 was opened by the script, the others were not.
        let opened = start_tag(&dom, "<details id=\"d-0-1\"");
        assert!(opened.contains(" open"), "{opened}");
        for other in ["d-0-2", "d-1-0"] {
            let closed = start_tag(&dom, &format!("<details id=\"{other}\""));
            assert!(!closed.contains(" open"), "{closed}");
        }
        // The transcript is text: its `<` and `"` are characters, the
        // `<script>` in it no element.
        let d = between(&dom, "<details id=\"d-0-1\"", "</details>");
        assert!(
            d.contains("&lt; #4 \"&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;\"</pre>"),
            "{d}"
        );
        assert_eq!(dom.matches("<script>").count(), 1);

        // Another fragment opens another one.
        let dom = dump_dom(&browser, &format!("{}#d-1-0", file_url(&path)), &profile);
        assert!(start_tag(&dom, "<details id=\"d-1-0\"").contains(" open"));
        assert!(!start_tag(&dom, "<details id=\"d-0-1\"").contains(" open"));
    }
}
