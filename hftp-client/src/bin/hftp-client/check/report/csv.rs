//! The CSV summary (`--csv FILE`): one row per target, for a spreadsheet
//! of a whole class.
//!
//! Columns: `name,target,pass,fail,non-strict,info,skip,error,peak_rss`.
//! The counts are numbers of cases; `error` is empty when the check ran
//! to the end, and `peak_rss` (bytes) when the server's memory was not
//! measured. Fields are quoted as RFC 4180 says, by the `csv` crate.

use std::io;

use crate::check::model::{TargetReport, Verdict};

/// The header row.
const HEADER: [&str; 9] = [
    "name",
    "target",
    "pass",
    "fail",
    "non-strict",
    "info",
    "skip",
    "error",
    "peak_rss",
];

/// Writes one summary row per report, after a header row, to `out`.
pub fn write(reports: &[TargetReport], out: &mut dyn io::Write) -> io::Result<()> {
    let mut csv = ::csv::Writer::from_writer(out);
    csv.write_record(HEADER)?;
    for report in reports {
        let mut row = vec![report.name.clone(), report.target.clone()];
        row.extend(Verdict::ALL.iter().map(|&v| report.count(v).to_string()));
        row.push(report.error.clone().unwrap_or_default());
        row.push(report.peak_rss.map(|b| b.to_string()).unwrap_or_default());
        csv.write_record(&row)?;
    }
    csv.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::{CaseResult, Tier};

    fn case(verdict: Verdict) -> CaseResult {
        CaseResult::sample(
            &format!("1/{}", verdict.key()),
            Tier::Course,
            "a rule".into(),
            verdict,
            1,
        )
    }

    fn render(reports: &[TargetReport]) -> String {
        let mut out = Vec::new();
        write(reports, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_header_follows_the_verdicts_order() {
        let keys: Vec<&str> = Verdict::ALL.iter().map(|v| v.key()).collect();
        assert_eq!(&HEADER[2..7], keys.as_slice());
        assert_eq!(
            render(&[]),
            "name,target,pass,fail,non-strict,info,skip,error,peak_rss\n"
        );
    }

    #[test]
    fn one_row_per_target_with_counts_error_and_memory() {
        use Verdict::*;
        let reports = [
            TargetReport {
                name: "alice".into(),
                target: "127.0.0.1:7000".into(),
                results: [Pass, Pass, Pass, Fail, NonStrict, Info, Info, Skip]
                    .into_iter()
                    .map(case)
                    .collect(),
                error: None,
                peak_rss: Some(5_242_880),
                millis: 10,
            },
            TargetReport {
                name: "bob, \"the\" builder".into(),
                target: "./server --port 7001".into(),
                results: vec![case(Pass)],
                error: Some("the server exited early\nwith status 1".into()),
                peak_rss: None,
                millis: 3,
            },
        ];
        let text = render(&reports);
        assert_eq!(
            text,
            "name,target,pass,fail,non-strict,info,skip,error,peak_rss\n\
             alice,127.0.0.1:7000,3,1,1,2,1,,5242880\n\
             \"bob, \"\"the\"\" builder\",./server --port 7001,1,0,0,0,0,\"the server exited early\nwith status 1\",\n"
        );
        // And a CSV reader gets the fields back.
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][0], "bob, \"the\" builder");
        assert_eq!(&rows[1][7], "the server exited early\nwith status 1");
        assert_eq!(&rows[1][8], "");
    }
}
