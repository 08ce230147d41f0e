//! `corral report FILE...`: the summary of record files written by `corral fetch -o jsonl`
//! (shards, journals, stdin), and with `--check N`, whether every input 0..N-1 has exactly one
//! record.
//!
//! Each file is read line by line into its own [`Summary`], and the summaries are merged (HDR
//! histograms merge without loss), so the percentiles are those of every request of every
//! file. A line that is not a record (torn by a crash, not JSON) is reported with its file and
//! line number and skipped; a journal's header line is recognised and skipped.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use crate::cli::ReportArgs;
use crate::exit;
use crate::record::Record;
use crate::stdio::note;
use crate::summary::Summary;

/// At most this many bad lines are named on stderr; the rest are counted.
const BAD_LINES_SHOWN: u64 = 10;
/// At most this many ranges of missing indexes, duplicated or out-of-range indexes are named.
const SHOWN: usize = 8;

/// Runs `corral report` and returns the exit code: 0, 1 when `--check` finds gaps or
/// duplicates, 2 when a file cannot be read.
pub fn run(args: ReportArgs) -> i32 {
    let mut total = Summary::new();
    let mut seen = args.check.map(Seen::new);
    let mut span = Span::default();
    let mut bad = 0u64;
    for path in &args.files {
        let (name, reader): (String, Box<dyn BufRead>) = if path.as_path() == Path::new("-") {
            ("stdin".to_owned(), Box::new(io::stdin().lock()))
        } else {
            match File::open(path).and_then(|f| {
                if f.metadata()?.is_dir() {
                    Err(io::Error::new(
                        io::ErrorKind::IsADirectory,
                        "is a directory",
                    ))
                } else {
                    Ok(f)
                }
            }) {
                Ok(f) => (
                    path.display().to_string(),
                    Box::new(BufReader::with_capacity(64 * 1024, f)),
                ),
                Err(e) => {
                    note!("corral report: cannot read {}: {e}", path.display());
                    return exit::USAGE;
                }
            }
        };
        let mut file = Summary::new();
        let read = read_records(reader, |line, parsed| match parsed {
            Ok(r) => {
                file.add(&r);
                span.add(&r);
                if let Some(seen) = &mut seen {
                    seen.add(r.index);
                }
            }
            Err(why) => {
                bad += 1;
                if bad <= BAD_LINES_SHOWN {
                    note!("corral report: {name}:{line}: skipped, not a record: {why}");
                }
            }
        });
        if let Err(e) = read {
            note!("corral report: cannot read {name}: {e}");
            return exit::USAGE;
        }
        total.merge(&file);
    }
    if bad > BAD_LINES_SHOWN {
        note!(
            "corral report: {} more bad lines skipped",
            bad - BAD_LINES_SHOWN
        );
    }

    let mut text = total.render(span.wall(), None);
    let files = args.files.len();
    let _ = writeln!(
        text,
        "  files:   {files} file{}, {} records, {bad} bad line{} skipped",
        if files == 1 { "" } else { "s" },
        total.total,
        if bad == 1 { "" } else { "s" },
    );
    if span.first.is_none() && total.total > 0 {
        let _ = writeln!(
            text,
            "  span:    unknown (the records have no ended_at), so no requests/s"
        );
    }
    let mut code = exit::OK;
    if let Some(seen) = &seen {
        let verdict = seen.verdict();
        if !verdict.is_empty() {
            code = exit::NOT_MET;
        }
        let _ = writeln!(
            text,
            "  check:   0..{}: {}",
            seen.counts.len(),
            if verdict.is_empty() {
                "every index exactly once".to_owned()
            } else {
                verdict
            }
        );
    }
    if let Some(path) = &args.html {
        let title: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
        let page = crate::html::page(&total, &text, &title.join(" "));
        if let Err(e) = std::fs::write(path, page) {
            note!("corral report: cannot write --html {}: {e}", path.display());
            return exit::USAGE;
        }
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::BROKEN_PIPE,
        Err(_) => exit::NOT_MET,
    }
}

/// Reads JSON-lines records from `reader`, calling `each` with the 1-based line number and the
/// record or why the line is not one. Blank lines and journal headers are skipped. A last line
/// without its newline is a torn write: reported like any bad line, unless it parses.
///
/// # Errors
///
/// Reading failed.
pub fn read_records(
    mut reader: impl BufRead,
    mut each: impl FnMut(u64, Result<Record, String>),
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(text) {
            Ok(r) => each(line, Ok(r)),
            Err(_) if is_header(text) => {}
            Err(e) => each(line, Err(e.to_string())),
        }
    }
}

/// True if `line` is a journal's header line (`{"corral_journal":1,...}`), not a record.
pub fn is_header(line: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[allow(dead_code)]
        corral_journal: u32,
    }
    serde_json::from_slice::<Probe>(line).is_ok()
}

/// The time the records cover: from the start of the earliest request to the latest record.
#[derive(Default)]
struct Span {
    first: Option<f64>,
    last: f64,
}

impl Span {
    fn add(&mut self, r: &Record) {
        if r.ended_at <= 0.0 {
            return;
        }
        let start = r.ended_at - r.elapsed_ms.as_secs_f64();
        self.first = Some(self.first.map_or(start, |f| f.min(start)));
        self.last = self.last.max(r.ended_at);
    }

    fn wall(&self) -> Duration {
        self.first.map_or(Duration::ZERO, |f| {
            Duration::try_from_secs_f64(self.last - f).unwrap_or(Duration::ZERO)
        })
    }
}

/// `--check N`: how many records each index 0..N-1 has, and the indexes past N.
struct Seen {
    counts: Vec<u8>,
    beyond: Vec<u64>,
    beyond_count: u64,
}

impl Seen {
    fn new(n: u64) -> Self {
        Seen {
            counts: vec![0; n as usize],
            beyond: Vec::new(),
            beyond_count: 0,
        }
    }

    fn add(&mut self, index: u64) {
        match self.counts.get_mut(index as usize) {
            Some(c) => *c = c.saturating_add(1),
            None => {
                self.beyond_count += 1;
                if self.beyond.len() < SHOWN {
                    self.beyond.push(index);
                }
            }
        }
    }

    /// What is wrong, compactly (`12 missing: 5, 17-27; 2 duplicated: 7 ×2, 9 ×3`), or "".
    fn verdict(&self) -> String {
        let mut missing = Ranges::default();
        let mut dups = Vec::new();
        let mut dup_count = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            match c {
                0 => missing.push(i as u64),
                1 => {}
                n => {
                    dup_count += 1;
                    if dups.len() < SHOWN {
                        let more = if n == u8::MAX { "+" } else { "" };
                        dups.push(format!("{i} ×{n}{more}"));
                    }
                }
            }
        }
        let mut parts = Vec::new();
        if missing.count > 0 {
            parts.push(format!("{} missing: {}", missing.count, missing.show()));
        }
        if dup_count > 0 {
            let etc = if dup_count as usize > dups.len() {
                ", …"
            } else {
                ""
            };
            parts.push(format!("{dup_count} duplicated: {}{etc}", dups.join(", ")));
        }
        if self.beyond_count > 0 {
            let list: Vec<String> = self.beyond.iter().map(u64::to_string).collect();
            let etc = if self.beyond_count as usize > list.len() {
                ", …"
            } else {
                ""
            };
            parts.push(format!(
                "{} out of range: {}{etc}",
                self.beyond_count,
                list.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Increasing indexes, gathered into ranges (`5, 17-27`), of which the first few are kept.
#[derive(Default)]
struct Ranges {
    count: u64,
    ranges: Vec<(u64, u64)>,
    more: bool,
}

impl Ranges {
    fn push(&mut self, i: u64) {
        self.count += 1;
        let len = self.ranges.len();
        match self.ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == i => *hi = i,
            _ if len < SHOWN => self.ranges.push((i, i)),
            _ => self.more = true,
        }
    }

    fn show(&self) -> String {
        let mut parts: Vec<String> = self
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        if self.more {
            parts.push("…".to_owned());
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(n: u64, indexes: &[u64]) -> String {
        let mut s = Seen::new(n);
        for &i in indexes {
            s.add(i);
        }
        s.verdict()
    }

    #[test]
    fn check_names_gaps_as_ranges_and_duplicates_with_counts() {
        assert_eq!(seen(4, &[3, 1, 0, 2]), "");
        assert_eq!(
            seen(10, &[0, 1, 1, 3, 4, 9, 9, 9, 12]),
            "5 missing: 2, 5-8; 2 duplicated: 1 ×2, 9 ×3; 1 out of range: 12"
        );
        let many: Vec<u64> = (0..100).step_by(2).collect();
        let v = seen(100, &many);
        assert!(
            v.starts_with("50 missing: 1, 3, 5, 7, 9, 11, 13, 15, …"),
            "{v}"
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_headers_skipped() {
        let text = format!(
            "{}\n{}\n\nnot json\n{{\"index\": 1, \"url\"",
            r#"{"corral_journal":1,"input":{"source":"args"},"flags":{},"created_at":0.0}"#,
            r#"{"index":0,"url":"http://a/","ok":true,"status":200,"error_kind":null,"error":null,"elapsed_ms":1.5,"bytes":3,"attempts":1,"line":1,"ended_at":1700000000.0}"#,
        );
        let mut got = Vec::new();
        read_records(text.as_bytes(), |line, r| {
            got.push((line, r.map(|r| r.index).map_err(|_| ())))
        })
        .unwrap();
        assert_eq!(got, [(2, Ok(0)), (4, Err(())), (5, Err(()))]);
    }

    #[test]
    fn records_without_ended_at_still_parse() {
        let line = r#"{"index":7,"url":"u","ok":false,"status":null,"error_kind":"cancelled","error":"x","elapsed_ms":0,"bytes":0,"attempts":0,"line":8}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!((r.index, r.ended_at, r.is_final()), (7, 0.0, false));
    }
}
