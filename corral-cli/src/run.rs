//! `corral fetch`: the strategies, each a thin use of the library's `as_completed`.
//!
//! Every run is one `as_completed` stream over the inputs, in the library's own terms:
//!
//! * the inputs are a stream of request futures, pulled only when there is room, so the
//!   concurrency limit (`.limit(c)`) also bounds memory, whatever the input's length;
//! * completion order by default. With `-k`, input order: the stream still runs in completion
//!   order, and the run holds finished records back in a reorder buffer of its own until every
//!   earlier one is out. (The library's `.ordered()` would count those waiting records against
//!   the limit, so one slow request would hold the whole run to it; here `-c` counts only
//!   requests in flight, and `--reorder-buffer` bounds the rest.)
//! * `--any`, `--quorum K` and `--fail-fast` only decide *when to stop*; stopping (Ctrl-C
//!   too) is the stream's `cancel_rest()`: the running requests are dropped and come out as
//!   cancelled items, and no more inputs are pulled;
//! * the deadline is the stream's `timeout_at()`: when it has to wait past it, it says so,
//!   and the run stops the same way.
//!
//! After a stop, the rest of an input that has an end (arguments, a regular file) is read and
//! recorded as not started, without going through the stream, so that a million lines take
//! about a second; a pipe or a terminal is not read further, and the summary says where
//! reading stopped. So there is exactly one record per input read, and every line of a file
//! is an input read, whatever ends the run.

use std::cell::{Cell, RefCell};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cli::FetchArgs;
use crate::exit;
use crate::fdlimit;
use crate::fetch::{Fetcher, Partial, Settings};
use crate::input::Inputs;
use crate::journal::{self, Journal};
use crate::output::{Format, Printer};
use crate::policy::Requester;
use crate::progress::{Progress, Total};
use crate::record::{ErrorKind, Record};
use crate::reorder::Reorder;
use crate::rows::{InputFormat, Rows};
use crate::select::Selection;
use crate::shard::Sharding;
use crate::stdio::note;
use crate::strategy::{Stop, Strategy};
use crate::summary::Summary;

/// Ctrl-C, observed without killing the process: the first one stops the run (records and
/// summary are still written); a second one exits at once.
struct Interrupt {
    fired: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    fn install() -> io::Result<Self> {
        let fired = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(Notify::new());
        // Registered here, synchronously, so that no SIGINT after `install` returns is missed.
        #[cfg(unix)]
        let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let (f, n) = (fired.clone(), notify.clone());
        tokio::spawn(async move {
            #[cfg(unix)]
            let _ = signal.recv().await;
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            f.store(true, Ordering::Release);
            n.notify_one();
            #[cfg(unix)]
            let _ = signal.recv().await;
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            note!("corral: interrupted again; exiting without the remaining records");
            std::process::exit(exit::INTERRUPTED);
        });
        Ok(Interrupt { fired, notify })
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// Writes records: to stdout, into the summary, onto the progress bar.
struct Sink<W: Write> {
    printer: Printer<W>,
    summary: Summary,
    progress: Progress,
    /// Flush after every record (stdout is a terminal).
    eager: bool,
    broken: bool,
    error: Option<io::Error>,
    /// `--journal`: final records are appended here too.
    journal: Option<Journal>,
}

impl<W: Write> Sink<W> {
    fn emit(&mut self, r: &Record, running: usize) {
        if let Some(j) = &mut self.journal {
            j.append(r);
        }
        self.summary.add(r);
        self.progress
            .record(self.summary.total - self.summary.ok, running);
        if self.broken || self.error.is_some() {
            return;
        }
        let result = if self.eager {
            let printer = &mut self.printer;
            self.progress
                .suspend(|| printer.write(r).and_then(|_| printer.flush()))
        } else {
            self.printer.write(r)
        };
        self.check(result);
    }

    fn flush(&mut self) {
        if let Some(j) = &mut self.journal {
            j.write_out();
        }
        if !self.broken && self.error.is_none() {
            let result = self.printer.flush();
            self.check(result);
        }
    }

    fn check(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.broken = true,
            Err(e) => self.error = Some(e),
        }
    }
}

/// Runs `corral fetch` and returns the exit code.
pub async fn run(mut args: FetchArgs) -> i32 {
    // First of all, before opening the input (which can block: a FIFO, a network file system)
    // and building the client (milliseconds of TLS set-up): a Ctrl-C from now on stops the run
    // with every record and the summary, instead of killing the process with neither.
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => {
            note!("corral fetch: cannot watch for Ctrl-C: {e}");
            return exit::NOT_MET;
        }
    };
    let quiet = args.quiet;
    // The request flags' combinations, before anything is opened or fetched.
    let request = match args.request.resolve() {
        Ok(r) => r,
        Err(e) => {
            note!("corral fetch: {e}");
            return exit::USAGE;
        }
    };
    let urls = std::mem::take(&mut args.urls);
    let stdin_is_terminal = io::stdin().is_terminal();
    let mut selection = Selection {
        sharding: args.shard.map(|shard| Sharding {
            shard,
            by: args.shard_by.unwrap_or_default(),
        }),
        done: None,
    };
    // The journal, before anything is fetched: a resumed run skips what it has done.
    // The journal, before anything is fetched: a resumed run skips what it has done.
    let journal = match &args.journal {
        None => None,
        Some(path) => match journal::open_for_run(path, &args, &urls, quiet) {
            Ok((journal, done)) => {
                selection.done = Some(done);
                Some(journal)
            }
            Err(e) => {
                note!("corral fetch: {e}");
                return exit::USAGE;
            }
        },
    };
    let known_total = (!urls.is_empty() && selection.is_all()).then_some(urls.len() as u64);
    let source = match &args.input {
        Some(path) if path.as_path() != std::path::Path::new("-") => {
            format!("-i {}", path.display())
        }
        _ => "stdin".to_owned(),
    };
    let rows = args
        .input_format
        .filter(|f| *f != InputFormat::Lines)
        .map(|f| Rows::new(f, args.url_field(), args.index_field.clone()));
    let mut inputs = match &args.input {
        Some(path) => match Inputs::open(path).await {
            Ok(i) => i.with_rows(rows),
            Err(e) => {
                note!("corral fetch: cannot read -i {}: {e}", path.display());
                return exit::USAGE;
            }
        },
        None if !urls.is_empty() => Inputs::from_args(urls),
        None if !stdin_is_terminal => Inputs::stdin().with_rows(rows),
        None => {
            note!(
                "corral fetch: no URLs: give them as arguments, with -i FILE, or on stdin \
                 (see corral fetch --help)"
            );
            return exit::USAGE;
        }
    };
    if let Some(dir) = &args.save {
        if let Err(e) = std::fs::create_dir_all(dir) {
            note!(
                "corral fetch: cannot create --save directory {}: {e}",
                dir.display()
            );
            return exit::USAGE;
        }
    }
    let concurrency = fitting_concurrency(&args);
    let fetcher = match Fetcher::new(Settings {
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        pool_per_host: concurrency,
        ok_status: args.ok_status.clone(),
        save: args.save.clone(),
        save_errors: args.save_errors,
        max_body: args.max_body,
        request,
    }) {
        Ok(f) => f,
        Err(e) => {
            note!("corral fetch: {e}");
            return exit::NOT_MET;
        }
    };
    let stdout_is_terminal = io::stdout().is_terminal();
    let format = args.output.unwrap_or(if stdout_is_terminal {
        Format::Text
    } else {
        Format::Jsonl
    });
    let mut sink = Sink {
        printer: Printer::new(
            format,
            BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        ),
        summary: Summary::new(),
        progress: Progress::new(
            !quiet && io::stderr().is_terminal(),
            match (known_total, inputs.size()) {
                (Some(n), _) => Total::Inputs(n),
                (None, Some(size)) => Total::Bytes {
                    size,
                    read: inputs.consumed(),
                },
                (None, None) => Total::Unknown,
            },
        ),
        eager: stdout_is_terminal,
        broken: false,
        error: None,
        journal,
    };
    let strategy = Strategy::from_args(&args);
    let started = Instant::now();
    let deadline = args.deadline.map(|d| (started + d, d));
    let requester = Requester::new(fetcher, &args.policy, deadline.map(|d| d.0), concurrency);

    let stop = drive(
        &mut inputs,
        &requester,
        &mut sink,
        &selection,
        Plan {
            strategy,
            concurrency,
            reorder: args
                .keep_order
                .then_some(args.reorder_buffer.max(concurrency as u64)),
            deadline,
        },
        &interrupt,
    )
    .await;

    let input_error = stop.input_error;
    sink.flush();
    let journal_error = sink.journal.take().and_then(|j| j.finish().err());
    if let Some(e) = &journal_error {
        note!("corral fetch: cannot write the journal: {e}");
    }
    sink.progress.finish();
    let wall = started.elapsed();

    // No URL at all is a usage error, not a run that trivially met its condition: a health
    // check over an empty list must not pass. Nor is an input that fails before its first line
    // (a directory given as stdin, an I/O error) a run. After Ctrl-C the input may not have
    // been read, so that stays an interruption.
    if inputs.count() == 0 && stop.reason != Some(Stop::Interrupted) {
        match &input_error {
            Some(e) => note!("corral fetch: cannot read {source}: {e}"),
            None => note!(
                "corral fetch: no inputs: {source} has no URLs (blank lines and lines \
                 starting with # are skipped)"
            ),
        }
        return exit::USAGE;
    }

    if let Some(e) = &input_error {
        if !quiet {
            note!(
                "corral fetch: reading the input failed after {} inputs: {e}",
                inputs.count()
            );
        }
    }
    if let Some(e) = &sink.error {
        note!("corral fetch: cannot write records: {e}");
    }
    // Stdout can also turn out closed at the last flush, after the run ended by itself.
    let reason = stop
        .reason
        .or_else(|| sink.broken.then_some(Stop::BrokenPipe));
    let cancelled = sink.summary.count(ErrorKind::Cancelled);
    let stopped = reason.as_ref().map(|r| {
        let s = if cancelled == 1 { "" } else { "s" };
        let mut note = format!("{}; {cancelled} input{s} cancelled", r.why());
        if let Some(line) = stop.unread_after {
            note.push_str(&format!(
                "; {source} was not read past line {line}: the lines after it have no record"
            ));
        }
        note
    });
    let prior = selection
        .done
        .as_ref()
        .map_or((0, 0), |d| (d.count, d.count - d.ok));
    if !quiet {
        let mut summary = sink.summary.render(wall, stopped.as_deref());
        summary.push_str(&requester.adaptive_summary().unwrap_or_default());
        if prior.0 > 0 {
            summary.push_str(&format!(
                "  resumed: {} inputs already had a final record in the journal ({} failed); \
                 corral report JOURNAL sums up the whole run\n",
                prior.0, prior.1
            ));
        }
        note!("{}", summary.trim_end());
    }
    let code = match &reason {
        Some(Stop::Interrupted) => exit::INTERRUPTED,
        // Records were lost, whatever else happened (the user's Ctrl-C aside).
        _ if sink.broken => exit::BROKEN_PIPE,
        Some(Stop::Deadline(_)) if cancelled > 0 || stop.unread_after.is_some() => exit::DEADLINE,
        Some(Stop::Decided { met, .. }) => {
            if *met {
                exit::OK
            } else {
                exit::NOT_MET
            }
        }
        Some(Stop::Journal(_)) => exit::NOT_MET,
        // A resumed run's condition covers the inputs the journal already had.
        _ if strategy.met(&sink.summary) && prior.1 == 0 => exit::OK,
        _ => exit::NOT_MET,
    };
    if code == exit::OK
        && (input_error.is_some() || sink.error.is_some() || journal_error.is_some())
    {
        return exit::NOT_MET;
    }
    code
}

/// `-c`, lowered to what the open-file limit allows (each request holds a socket, and a file
/// with `--save`), with a note on stderr when it had to be.
fn fitting_concurrency(args: &FetchArgs) -> usize {
    let per_request = 1 + u64::from(args.save.is_some());
    let limit = fdlimit::raise();
    let fit = limit.fitting(per_request);
    let asked = u64::from(args.concurrency);
    if asked <= fit {
        return asked as usize;
    }
    if !args.quiet {
        let hard = limit
            .hard
            .map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
        note!(
            "corral fetch: -c {asked} needs about {} open files, but the limit is {} (hard \
             limit {hard}; see ulimit -n): running at most {fit} requests at once instead",
            asked * per_request + fdlimit::RESERVE,
            limit.soft.unwrap_or(0),
        );
    }
    fit as usize
}

/// How to run: the strategy and the stream's settings.
struct Plan {
    strategy: Strategy,
    concurrency: usize,
    /// With `-k`: the most inputs held from the oldest one not yet written to the newest
    /// started (`--reorder-buffer`, at least the concurrency).
    reorder: Option<u64>,
    deadline: Option<(Instant, Duration)>,
}

struct Ended {
    reason: Option<Stop>,
    input_error: Option<io::Error>,
    /// After a stop, a pipe or terminal is not read further: the last line read.
    unread_after: Option<u64>,
}

/// What the run keeps about each input pulled into the stream (the stream's key), to record
/// it if it comes out cancelled.
struct Pulled {
    /// The input's index among all the inputs (not only this run's).
    index: u64,
    url: String,
    line: u64,
    at: Instant,
    /// Why the input is bad, if it is.
    invalid: Option<String>,
    /// What had arrived, for a request cancelled while running.
    partial: Arc<Partial>,
    /// The input row's other fields, for its record.
    fields: Option<Box<crate::rows::Fields>>,
}

/// The run proper: one `as_completed` stream over the inputs, stopped when the strategy
/// decides, the deadline expires, or Ctrl-C comes; then the rest of a bounded input, recorded
/// as not started.
async fn drive<W: Write>(
    inputs: &mut Inputs,
    fetcher: &Requester,
    sink: &mut Sink<W>,
    selection: &Selection,
    plan: Plan,
    interrupt: &Interrupt,
) -> Ended {
    let input_done = Cell::new(false);
    let input_error: RefCell<Option<io::Error>> = RefCell::new(None);
    // -k: inputs pulled and records written so far, and a wake-up for the input stream
    // waiting for room.
    let pulled = Cell::new(0u64);
    let written = Cell::new(0u64);
    let room = Notify::new();
    let (done_ref, error_ref, pulled_ref, written_ref, room_ref) =
        (&input_done, &input_error, &pulled, &written, &room);
    let window = plan.reorder;

    // The inputs as a stream of (key, request future); the library pulls from it only when it
    // has room, so reading is as lazy as the limit.
    let requests = futures_util::stream::unfold(&mut *inputs, move |inputs| async move {
        if let Some(window) = window {
            // -k: no further than `window` inputs past the oldest one not yet written.
            while pulled_ref.get() - written_ref.get() >= window {
                room_ref.notified().await;
            }
        }
        let next = loop {
            match inputs.next().await {
                Ok(Some(input)) => {
                    let host = input.url.as_ref().ok().and_then(url::Url::host_str);
                    if selection.keeps(input.index, host) {
                        break Ok(Some(input));
                    }
                }
                other => break other,
            }
        };
        match next {
            Ok(Some(mut input)) => {
                pulled_ref.set(pulled_ref.get() + 1);
                let partial = Arc::new(Partial::default());
                let key = Pulled {
                    index: input.index,
                    url: input.text.clone(),
                    line: input.line,
                    at: Instant::now(),
                    invalid: input.url.as_ref().err().cloned(),
                    partial: partial.clone(),
                    fields: input.fields.take(),
                };
                Some(((key, fetcher.fetch(input, partial)), inputs))
            }
            Ok(None) => {
                done_ref.set(true);
                None
            }
            Err(e) => {
                *error_ref.borrow_mut() = Some(e);
                done_ref.set(true);
                None
            }
        }
    });

    let mut completions = corral::as_completed(corral::source::keyed_stream(requests))
        .limit(plan.concurrency)
        .timeout_at(plan.deadline.map(|d| d.0));
    let mut reorder = plan.reorder.map(|_| Reorder::new());

    let mut reason: Option<Stop> = None;
    loop {
        if reason.is_none() {
            let held = reorder.as_ref().map_or(0, |r| r.held);
            let why = if interrupt.fired() {
                Some(Stop::Interrupted)
            } else if sink.broken {
                Some(Stop::BrokenPipe)
            } else if let Some(e) = sink.journal.as_ref().and_then(|j| j.error.as_ref()) {
                Some(Stop::Journal(e.to_string()))
            } else if let Some((_, d)) = plan.deadline.filter(|(at, _)| Instant::now() >= *at) {
                // Checked here too: the stream's timeout fires only when it has to wait, and
                // an input whose records are always ready (bad lines) never makes it wait.
                Some(Stop::Deadline(d))
            } else {
                plan.strategy.decide(
                    &sink.summary,
                    completions.remaining() + held,
                    input_done.get(),
                )
            };
            if let Some(why) = why {
                // Running requests come out cancelled; nothing more is pulled. The rest of the
                // input is dealt with after the stream, below.
                completions.cancel_rest();
                reason = Some(why);
            }
        }
        // Take what is ready without waiting; flush only when about to wait, so that a pipe
        // gets records promptly but not one write per record.
        let item = match completions.next().now_or_never() {
            Some(item) => item,
            None => {
                sink.flush();
                if sink.broken && reason.is_none() {
                    // Nobody reads the records any more: stop now, not after the next one.
                    continue;
                }
                tokio::select! {
                    item = completions.next() => item,
                    _ = interrupt.notify.notified(), if reason.is_none() => continue,
                }
            }
        };
        let done = match item {
            None => break,
            Some(Ok(done)) => done,
            Some(Err(corral::Elapsed { .. })) => {
                // The deadline passed while requests were running: stop, and drain.
                let d = plan.deadline.map_or(Duration::ZERO, |d| d.1);
                completions.cancel_rest();
                reason.get_or_insert(Stop::Deadline(d));
                continue;
            }
        };
        let why = || {
            reason
                .as_ref()
                .map_or_else(|| "cancelled".to_owned(), Stop::why)
        };
        let mut key = done.key;
        let fields = key.fields.take();
        let mut record = match done.outcome {
            corral::Outcome::Ok(r) => r,
            corral::Outcome::Err(r) => *r,
            corral::Outcome::Cancelled(_) => cancelled_record(key, &why()),
            corral::Outcome::Panicked(p) => {
                let mut r = cancelled_record(key, "");
                r.error_kind = Some(ErrorKind::Protocol);
                r.error = Some(format!("internal error (a bug in corral): {}", p.message()));
                r
            }
        };
        record.fields = fields;
        let running = completions.running();
        match &mut reorder {
            None => sink.emit(&record, running),
            Some(reorder) => {
                reorder.insert(done.index as u64, record);
                let before = reorder.next;
                while let Some(r) = reorder.pop() {
                    sink.emit(&r, running);
                }
                if reorder.next > before {
                    written.set(reorder.next);
                    room.notify_one();
                }
            }
        }
    }
    drop(completions);
    debug_assert!(
        reorder.as_ref().is_none_or(|r| r.held == 0),
        "every input pulled has come out, so none waits for an earlier one"
    );

    // After a stop, the inputs not pulled yet: recorded as not started if the input has an
    // end, left unread if it may have none (a pipe, a terminal). Not at all when nobody reads
    // the records.
    let mut unread_after = None;
    if let Some(why) = &reason {
        if !input_done.get() && *why != Stop::BrokenPipe {
            if inputs.is_bounded() {
                if let Err(e) = record_the_rest(inputs, sink, selection, &why.why()).await {
                    *input_error.borrow_mut() = Some(e);
                }
            } else {
                unread_after = Some(inputs.lines_read());
            }
        }
    }
    Ended {
        reason,
        input_error: input_error.into_inner(),
        unread_after,
    }
}

/// Writes a "not started" record (or an `invalid_input` one, for a line that is not an http
/// or https URL) for every input left after a stop, straight from the input to the output: no
/// URL parsing beyond the scheme, no request future, no stream.
async fn record_the_rest<W: Write>(
    inputs: &mut Inputs,
    sink: &mut Sink<W>,
    selection: &Selection,
    why: &str,
) -> io::Result<()> {
    let error = format!("not started: {why}");
    while let Some(input) = inputs.next_unfetched().await? {
        let url = selection
            .needs_host()
            .then(|| crate::input::parse_url(&input.text).ok())
            .flatten();
        if !selection.keeps(input.index, url.as_ref().and_then(url::Url::host_str)) {
            continue;
        }
        let mut record = match input.bad {
            Some(bad) => Record::failed(
                input.index,
                input.line,
                input.text,
                ErrorKind::InvalidInput,
                bad,
            ),
            None => Record::failed(
                input.index,
                input.line,
                input.text,
                ErrorKind::Cancelled,
                error.clone(),
            ),
        };
        record.fields = input.fields;
        sink.emit(&record, 0);
        if sink.broken {
            break;
        }
    }
    Ok(())
}

/// The record of an input that came out cancelled, stopped while running (with what had
/// arrived: the status, the body bytes), or a bad line that never got to fail.
fn cancelled_record(key: Pulled, why: &str) -> Record {
    if let Some(bad) = key.invalid {
        return Record::failed(key.index, key.line, key.url, ErrorKind::InvalidInput, bad);
    }
    Record {
        index: key.index,
        url: key.url,
        status: key.partial.status(),
        error_kind: Some(ErrorKind::Cancelled),
        error: Some(format!("cancelled while running: {why}")),
        elapsed_ms: key.at.elapsed(),
        bytes: key.partial.bytes(),
        attempts: key.partial.attempts(),
        line: key.line,
        ended_at: crate::record::now(),
        final_url: key.partial.final_url(),
        redirects: key.partial.redirects(),
        ..Record::default()
    }
}
