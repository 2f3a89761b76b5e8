//! The JUnit XML report (`--junit FILE`), for CI systems that show test
//! results (GitLab, Jenkins, GitHub actions that read JUnit).
//!
//! One `<testsuite>` per target, named after it, with `tests`,
//! `failures`, `errors`, `skipped` and `time` (seconds); one `<testcase>`
//! per case, `classname="<target>.<tier>"`, `name="<case id>"`:
//!
//! - FAIL: a `<failure message="<requirement>" type="FAIL">` whose text
//!   is the expected behaviour, what the server did and the transcript;
//! - SKIP: `<skipped message="<why>"/>`;
//! - NON-STRICT and INFO pass, with what was found in `<system-out>`;
//! - a check that could not run or stopped early (`TargetReport::error`)
//!   adds a test case `check could not run` with an `<error>`.
//!
//! Text is escaped by quick-xml; characters XML cannot carry at all
//! (control characters other than tab, line feed and carriage return)
//! are written as `\u{..}`, and line breaks inside attribute values as
//! character references, so a reader gets back exactly what was written.

use std::borrow::Cow;
use std::io;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::check::model::{CaseResult, TargetReport, Verdict};

/// Writes `reports` as one JUnit XML document to `out`.
pub fn write(reports: &[TargetReport], out: &mut dyn io::Write) -> io::Result<()> {
    let mut xml = Writer::new_with_indent(out, b' ', 2);
    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let all = Totals::of_all(reports);
    xml.create_element("testsuites")
        .with_attribute(attr("name", "hftp-client check"))
        .with_attribute(attr("tests", &all.tests.to_string()))
        .with_attribute(attr("failures", &all.failures.to_string()))
        .with_attribute(attr("errors", &all.errors.to_string()))
        .with_attribute(attr("skipped", &all.skipped.to_string()))
        .with_attribute(attr("time", &seconds(all.millis)))
        .write_inner_content(|xml| {
            for report in reports {
                write_suite(xml, report)?;
            }
            Ok(())
        })?;
    // A last line break, as text files end.
    xml.into_inner().write_all(b"\n")
}

/// The counts a `<testsuite>` (or `<testsuites>`) carries.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    millis: u64,
}

impl Totals {
    fn of(report: &TargetReport) -> Totals {
        let errors = usize::from(report.error.is_some());
        Totals {
            tests: report.results.len() + errors,
            failures: report.count(Verdict::Fail),
            errors,
            skipped: report.count(Verdict::Skip),
            millis: report.millis,
        }
    }

    fn of_all(reports: &[TargetReport]) -> Totals {
        reports
            .iter()
            .map(Totals::of)
            .fold(Totals::default(), |a, b| Totals {
                tests: a.tests + b.tests,
                failures: a.failures + b.failures,
                errors: a.errors + b.errors,
                skipped: a.skipped + b.skipped,
                millis: a.millis + b.millis,
            })
    }
}

fn write_suite<W: io::Write>(xml: &mut Writer<W>, report: &TargetReport) -> io::Result<()> {
    let totals = Totals::of(report);
    xml.create_element("testsuite")
        .with_attribute(attr("name", &report.name))
        .with_attribute(attr("tests", &totals.tests.to_string()))
        .with_attribute(attr("failures", &totals.failures.to_string()))
        .with_attribute(attr("errors", &totals.errors.to_string()))
        .with_attribute(attr("skipped", &totals.skipped.to_string()))
        .with_attribute(attr("time", &seconds(report.millis)))
        .write_inner_content(|xml| {
            xml.create_element("properties")
                .write_inner_content(|xml| {
                    property(xml, "target", &report.target)?;
                    if let Some(rss) = report.peak_rss {
                        property(xml, "peak_rss", &rss.to_string())?;
                    }
                    Ok(())
                })?;
            if let Some(error) = &report.error {
                xml.create_element("testcase")
                    .with_attribute(attr("classname", &report.name))
                    .with_attribute(attr("name", "check could not run"))
                    .with_attribute(attr("time", &seconds(0)))
                    .write_inner_content(|xml| {
                        xml.create_element("error")
                            .with_attribute(attr("message", first_line(error)))
                            .write_text_content(BytesText::new(&xml_chars(error)))?;
                        Ok(())
                    })?;
            }
            for case in &report.results {
                write_case(xml, report, case)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn property<W: io::Write>(xml: &mut Writer<W>, name: &str, value: &str) -> io::Result<()> {
    xml.create_element("property")
        .with_attribute(attr("name", name))
        .with_attribute(attr("value", value))
        .write_empty()?;
    Ok(())
}

fn write_case<W: io::Write>(
    xml: &mut Writer<W>,
    report: &TargetReport,
    case: &CaseResult,
) -> io::Result<()> {
    let classname = format!("{}.{}", report.name, case.tier.name());
    let element = xml
        .create_element("testcase")
        .with_attribute(attr("classname", &classname))
        .with_attribute(attr("name", &case.id))
        .with_attribute(attr("time", &seconds(case.millis)));
    match case.verdict {
        Verdict::Pass => {
            element.write_empty()?;
        }
        Verdict::Fail => {
            element.write_inner_content(|xml| {
                xml.create_element("failure")
                    .with_attribute(attr("message", &case.requirement))
                    .with_attribute(attr("type", case.verdict.label()))
                    .write_text_content(BytesText::new(&xml_chars(&case.explanation())))?;
                Ok(())
            })?;
        }
        Verdict::Skip => {
            element.write_inner_content(|xml| {
                xml.create_element("skipped")
                    .with_attribute(attr("message", &case.actual))
                    .write_empty()?;
                Ok(())
            })?;
        }
        Verdict::NonStrict | Verdict::Info => {
            element.write_inner_content(|xml| {
                let text = format!(
                    "{}: {}\n{}",
                    case.verdict.label(),
                    case.requirement,
                    case.explanation()
                );
                xml.create_element("system-out")
                    .write_text_content(BytesText::new(&xml_chars(&text)))?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Milliseconds as JUnit's seconds: `1.234`.
fn seconds(millis: u64) -> String {
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Whether XML 1.0 can carry `c` at all, escaped or not.
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `text` with the characters XML cannot carry written as `\u{..}`.
fn xml_chars(text: &str) -> Cow<'_, str> {
    if text.chars().all(xml_allows) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if xml_allows(c) {
            clean.push(c);
        } else {
            clean.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    Cow::Owned(clean)
}

/// An attribute whose value is escaped, line breaks and tabs included
/// (a reader would turn them into spaces otherwise).
fn attr<'a>(name: &'a str, value: &str) -> Attribute<'a> {
    let escaped = quick_xml::escape::escape(xml_chars(value).into_owned()).into_owned();
    let escaped = escaped
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;");
    Attribute {
        key: quick_xml::name::QName(name.as_bytes()),
        value: Cow::Owned(escaped.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::Tier;

    fn case(id: &str, tier: Tier, verdict: Verdict) -> CaseResult {
        CaseResult::sample(id, tier, format!("requirement of {id}"), verdict, 12)
    }

    fn sample() -> Vec<TargetReport> {
        let mut fail = case("2.1/framing/bare-cr", Tier::Strict, Verdict::Fail);
        fail.requirement = "a bare CR is <not> a line end & is \"refused\"".into();
        fail.expected = "ERR 400".into();
        fail.actual = "the connection hung".into();
        fail.transcript = "> #0 \"ls\\r\"\n< #4 \"</x>&amp;\"".into();
        let mut skip = case("4/slow/reader", Tier::Robust, Verdict::Skip);
        skip.actual = "needs --server-cmd".into();
        let mut non_strict = case("2.3/ls/order", Tier::Strict, Verdict::NonStrict);
        non_strict.expected = "names in byte order".into();
        non_strict.actual = "names in directory order".into();
        let mut info = case("3/get/idle", Tier::Robust, Verdict::Info);
        info.actual = "closes after 30 s".into();
        vec![
            TargetReport {
                name: "alice".into(),
                target: "127.0.0.1:7000".into(),
                results: vec![
                    case("1/connect/greeting", Tier::Course, Verdict::Pass),
                    fail,
                    skip,
                    non_strict,
                    info,
                ],
                error: None,
                peak_rss: Some(4096),
                millis: 1234,
            },
            TargetReport {
                name: "bob".into(),
                target: "./server --port 7001".into(),
                results: vec![case("1/connect/greeting", Tier::Course, Verdict::Pass)],
                error: Some("the server exited with status 1\nsecond line".into()),
                peak_rss: None,
                millis: 5,
            },
        ]
    }

    fn render(reports: &[TargetReport]) -> String {
        let mut out = Vec::new();
        write(reports, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The element starting at `start` (a tag's opening), up to its end.
    fn element<'a>(xml: &'a str, start: &str, end: &str) -> &'a str {
        let from = xml
            .find(start)
            .unwrap_or_else(|| panic!("no {start} in\n{xml}"));
        let len = xml[from..].find(end).unwrap() + end.len();
        &xml[from..from + len]
    }

    #[test]
    fn suites_carry_the_counts() {
        let xml = render(&sample());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        assert!(xml.contains(
            "<testsuites name=\"hftp-client check\" tests=\"7\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"1.239\">"
        ));
        assert!(xml.contains(
            "<testsuite name=\"alice\" tests=\"5\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"1.234\">"
        ));
        assert!(xml.contains(
            "<testsuite name=\"bob\" tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.005\">"
        ));
        assert!(xml.contains("<property name=\"target\" value=\"127.0.0.1:7000\"/>"));
        assert!(xml.contains("<property name=\"peak_rss\" value=\"4096\"/>"));
        assert_eq!(xml.matches("<testcase ").count(), 7);
        assert!(xml.ends_with("</testsuites>\n"));
    }

    #[test]
    fn a_pass_is_an_empty_testcase() {
        let xml = render(&sample());
        assert!(xml.contains(
            "<testcase classname=\"alice.course\" name=\"1/connect/greeting\" time=\"0.012\"/>"
        ));
    }

    #[test]
    fn a_failure_carries_requirement_expected_actual_and_transcript_escaped() {
        let xml = render(&sample());
        let failing = element(
            &xml,
            "<testcase classname=\"alice.strict\" name=\"2.1/framing/bare-cr\"",
            "</testcase>",
        );
        assert!(failing.contains(
            "<failure message=\"a bare CR is &lt;not&gt; a line end &amp; is &quot;refused&quot;\" type=\"FAIL\">"
        ), "{failing}");
        assert!(failing.contains("expected: ERR 400\nactual: the connection hung\ntranscript:\n"));
        assert!(
            failing.contains(
                "&gt; #0 &quot;ls\\r&quot;\n&lt; #4 &quot;&lt;/x&gt;&amp;amp;&quot;\n</failure>"
            ),
            "{failing}"
        );
    }

    #[test]
    fn skip_non_strict_and_info() {
        let xml = render(&sample());
        assert!(xml.contains(
            "<testcase classname=\"alice.robust\" name=\"4/slow/reader\" time=\"0.012\">\n      <skipped message=\"needs --server-cmd\"/>"
        ), "{xml}");
        let non_strict = element(&xml, "name=\"2.3/ls/order\"", "</testcase>");
        assert!(non_strict.contains(
            "<system-out>NON-STRICT: requirement of 2.3/ls/order\nexpected: names in byte order\nactual: names in directory order\n</system-out>"
        ), "{non_strict}");
        assert!(!non_strict.contains("<failure"));
        let info = element(&xml, "name=\"3/get/idle\"", "</testcase>");
        assert!(info.contains("<system-out>INFO: requirement of 3/get/idle\nfound: closes after 30 s\n</system-out>"), "{info}");
    }

    #[test]
    fn a_check_that_could_not_run_is_an_error() {
        let xml = render(&sample());
        let error = element(
            &xml,
            "<testcase classname=\"bob\" name=\"check could not run\"",
            "</testcase>",
        );
        assert!(error.contains(
            "<error message=\"the server exited with status 1\">the server exited with status 1\nsecond line</error>"
        ), "{error}");
    }

    #[test]
    fn characters_xml_cannot_carry_are_spelled_out_and_line_breaks_in_attributes_kept() {
        let mut reports = sample();
        reports[0].results[1].requirement = "two\nlines\tand a \u{1b} escape".into();
        reports[0].results[1].transcript = "nul \u{0} here".into();
        let xml = render(&reports);
        assert!(
            xml.contains("message=\"two&#10;lines&#9;and a \\u{1b} escape\""),
            "{xml}"
        );
        assert!(xml.contains("nul \\u{0} here"));
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    }

    #[test]
    fn the_document_reads_back_with_the_same_text() {
        let reports = sample();
        let xml = render(&reports);
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut message = None;
        let mut in_failure = false;
        let mut text = String::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) if e.name().as_ref() == b"failure" => {
                    let value = e.try_get_attribute("message").unwrap().unwrap();
                    message = Some(
                        value
                            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .unwrap()
                            .into_owned(),
                    );
                    in_failure = true;
                }
                Event::End(e) if e.name().as_ref() == b"failure" => in_failure = false,
                Event::Text(t) if in_failure => text.push_str(&t.xml10_content().unwrap()),
                Event::GeneralRef(r) if in_failure => {
                    let c = match r.resolve_char_ref().unwrap() {
                        Some(c) => c,
                        None => match &*r.decode().unwrap() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "quot" => '"',
                            "apos" => '\'',
                            other => panic!("unknown entity {other}"),
                        },
                    };
                    text.push(c);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let failing = &reports[0].results[1];
        assert_eq!(message.as_deref(), Some(failing.requirement.as_str()));
        assert_eq!(text, failing.explanation());
        assert!(text.contains(&failing.transcript), "{text}");
    }

    #[test]
    fn no_reports_is_an_empty_document() {
        let xml = render(&[]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hftp-client check\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0.000\">\n</testsuites>\n"
        );
    }
}
