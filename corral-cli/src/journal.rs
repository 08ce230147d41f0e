//! `--journal FILE` and `--resume`: a run that survives a crash.
//!
//! The journal is JSON lines. Its first line is a [`Header`]: the input's fingerprint and the
//! flags that change results. Every later line is a record, appended as soon as it is final
//! ([`Record::is_final`]: anything but `cancelled`). Records reach the file (one `write` per
//! batch) within 100 ms of becoming final, and at once whenever the run waits for a request;
//! a thread fsyncs the file every 100 ms while records come, and the run fsyncs it at the end.
//! A process killed outright (SIGKILL, OOM) loses at most the records of its last 100 ms,
//! which are fetched again on resume; a power loss, at most those of the last 200 ms.
//!
//! `--resume` reads the journal back: the header must match this run's (else exit 2, saying
//! which part differs), the inputs whose index has a final record are skipped, and a torn
//! last line (the crash came mid-write) is cut off before appending. `cancelled` records are
//! not final and are never journaled, so the inputs a crash or a stop cut short run again.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cli::FetchArgs;
use crate::record::{self, Record};
use crate::stable_hash::fnv1a64;
use crate::stdio::note;
use crate::strategy::Strategy;

/// The journal format's version, the header's `corral_journal` field.
pub const FORMAT: u32 = 1;
/// How much of the input file the fingerprint hashes.
pub const HEAD_BYTES: u64 = 1 << 20;
/// Records reach the file, and the file the disk, at least this often.
pub const SYNC_EVERY: Duration = Duration::from_millis(100);

/// The journal's first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`]; also how a header line is told from a record.
    pub corral_journal: u32,
    /// What the input was.
    pub input: Fingerprint,
    /// The flags that change results, by long name, as given (`none` when not given).
    pub flags: BTreeMap<String, String>,
    /// When the journal was created: Unix time in seconds. Not compared.
    pub created_at: f64,
}

/// The input, recognisable again: a file by path, size, modification time and the FNV-1a
/// hash of its first MiB; URL arguments by count and the hash of them all; stdin not at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `file`, `args` or `stdin`.
    pub source: String,
    /// The file's absolute path.
    pub path: Option<String>,
    /// The file's size in bytes, or the number of URL arguments.
    pub size: Option<u64>,
    /// The file's modification time, `SECONDS.NANOSECONDS` since the Unix epoch.
    pub mtime: Option<String>,
    /// 64-bit FNV-1a, in hex, of the file's first [`HEAD_BYTES`] (or of every argument, each
    /// followed by a newline).
    pub head_fnv1a64: Option<String>,
}

impl Fingerprint {
    /// The fingerprint of the file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn of_file(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let mtime = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map(|d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
            .unwrap_or_else(|_| "before 1970".to_owned());
        let mut head = Vec::new();
        file.take(HEAD_BYTES).read_to_end(&mut head)?;
        Ok(Fingerprint {
            source: "file".to_owned(),
            path: Some(std::fs::canonicalize(path)?.display().to_string()),
            size: Some(meta.len()),
            mtime: Some(mtime),
            head_fnv1a64: Some(format!("{:016x}", fnv1a64(&head))),
        })
    }

    /// The fingerprint of URL arguments.
    pub fn of_args(urls: &[String]) -> Self {
        let mut all = Vec::new();
        for u in urls {
            all.extend_from_slice(u.as_bytes());
            all.push(b'\n');
        }
        Fingerprint {
            source: "args".to_owned(),
            path: None,
            size: Some(urls.len() as u64),
            mtime: None,
            head_fnv1a64: Some(format!("{:016x}", fnv1a64(&all))),
        }
    }

    /// Stdin, which cannot be recognised again.
    pub fn stdin() -> Self {
        Fingerprint {
            source: "stdin".to_owned(),
            path: None,
            size: None,
            mtime: None,
            head_fnv1a64: None,
        }
    }
}

impl Header {
    /// The header of a new journal.
    pub fn new(input: Fingerprint, flags: BTreeMap<String, String>) -> Self {
        Header {
            corral_journal: FORMAT,
            input,
            flags,
            created_at: record::now(),
        }
    }

    /// Why a run with header `now` may not resume the journal that has `self`, one reason
    /// per differing part; empty if it may.
    pub fn mismatches(&self, now: &Header) -> Vec<String> {
        let mut why = Vec::new();
        if self.corral_journal != now.corral_journal {
            why.push(format!(
                "journal format {} (this corral writes {})",
                self.corral_journal, now.corral_journal
            ));
        }
        let (was, is) = (&self.input, &now.input);
        if was.source == "stdin" || is.source == "stdin" {
            why.push(
                "the input is stdin, which cannot be recognised again: journal a run over \
                 -i FILE or URL arguments to resume it"
                    .to_owned(),
            );
            return why;
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                why.push(format!("{name} was {a}, is now {b}"));
            }
        };
        field("the input", was.source.clone(), is.source.clone());
        field("the input's path", show(&was.path), show(&is.path));
        let size = |s: &Option<u64>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
        field("the input's size", size(&was.size), size(&is.size));
        field(
            "the input's modification time",
            show(&was.mtime),
            show(&is.mtime),
        );
        field(
            "the hash of the input's first MiB (FNV-1a)",
            show(&was.head_fnv1a64),
            show(&is.head_fnv1a64),
        );
        let keys: std::collections::BTreeSet<&String> =
            self.flags.keys().chain(now.flags.keys()).collect();
        for k in keys {
            let get = |m: &BTreeMap<String, String>| {
                m.get(k).cloned().unwrap_or_else(|| "none".to_owned())
            };
            field(&format!("--{k}"), get(&self.flags), get(&now.flags));
        }
        why
    }
}

/// The flags that change what a record says, by long name, for the journal's header: a
/// resumed run must use the same. (`-c`, `-k`, `-z`, `-o` and `-q` change how the run goes,
/// not what an input's record says, so they may differ.)
pub fn result_flags(args: &FetchArgs) -> BTreeMap<String, String> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
    let rows = args
        .input_format
        .filter(|f| *f != crate::rows::InputFormat::Lines);
    let strategy = match Strategy::from_args(args) {
        Strategy::All => "all".to_owned(),
        Strategy::Any => "any".to_owned(),
        Strategy::Quorum(k) => format!("quorum {k}"),
        Strategy::FailFast => "fail-fast".to_owned(),
    };
    [
        ("ok-status", args.ok_status.to_string()),
        ("timeout", opt(args.timeout.map(|d| format!("{d:?}")))),
        (
            "connect-timeout",
            opt(args.connect_timeout.map(|d| format!("{d:?}"))),
        ),
        ("max-body", opt(args.max_body.map(|b| b.to_string()))),
        (
            "save",
            opt(args.save.as_ref().map(|p| p.display().to_string())),
        ),
        ("save-errors", args.save_errors.to_string()),
        // Rows (csv, jsonl) only: a journal of plain lines says nothing of them.
        (
            "input-format",
            opt(rows.map(|f| format!("{f:?}").to_lowercase())),
        ),
        ("url-field", opt(rows.map(|_| args.url_field()))),
        ("index-field", opt(args.index_field.clone())),
        ("shard", opt(args.shard.map(|s| s.to_string()))),
        (
            "shard-by",
            opt(args
                .shard
                .map(|_| args.shard_by.unwrap_or_default().to_string())),
        ),
        ("strategy", strategy),
    ]
    .into_iter()
    .chain(args.request.result_flags())
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What an existing journal says is done.
#[derive(Debug, Default)]
pub struct Done {
    bits: Vec<u64>,
    /// Inputs with a final record.
    pub count: u64,
    /// Of those, how many are `ok`.
    pub ok: u64,
    /// The line number of a torn last line that was cut off, if there was one.
    pub torn_line: Option<u64>,
    /// Line numbers of bad lines before the last, skipped (at most a few).
    pub bad_lines: Vec<u64>,
}

impl Done {
    /// Whether the input at `index` already has a final record.
    pub fn contains(&self, index: u64) -> bool {
        self.bits
            .get((index / 64) as usize)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    fn insert(&mut self, r: &Record) {
        let (word, bit) = ((r.index / 64) as usize, 1u64 << (r.index % 64));
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & bit == 0 {
            self.bits[word] |= bit;
            self.count += 1;
            self.ok += u64::from(r.ok);
        }
    }
}

/// An open journal, appending final records.
pub struct Journal {
    /// Holds the journal's lock for as long as the run (the kernel drops it if the process
    /// dies, so a resume after SIGKILL finds it free).
    _lock: File,
    out: BufWriter<File>,
    last_write: Instant,
    dirty: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    syncer: Option<JoinHandle<()>>,
    /// The first write that failed; the run stops on it.
    pub error: Option<io::Error>,
}

/// Opens `fetch --journal PATH` for the run `args` asks for (`urls` are its URL arguments):
/// the header from the input's fingerprint and the flags, then [`open`]. Says on stderr
/// (unless `quiet`) what resuming dropped: a torn last line, bad lines.
///
/// # Errors
///
/// As for [`open`], and the input file cannot be read.
pub fn open_for_run(
    path: &Path,
    args: &FetchArgs,
    urls: &[String],
    quiet: bool,
) -> Result<(Journal, Done), String> {
    let input = match &args.input {
        Some(p) if p.as_path() != Path::new("-") => {
            Fingerprint::of_file(p).map_err(|e| format!("cannot read -i {}: {e}", p.display()))?
        }
        None if !urls.is_empty() => Fingerprint::of_args(urls),
        _ => Fingerprint::stdin(),
    };
    let (journal, done) = open(path, &Header::new(input, result_flags(args)), args.resume)?;
    if let (Some(line), false) = (done.torn_line, quiet) {
        note!(
            "corral fetch: the journal's last line ({line}) was cut short by the crash: \
             dropped, its input runs again"
        );
    }
    if !done.bad_lines.is_empty() && !quiet {
        note!(
            "corral fetch: journal lines {:?} are not records: skipped",
            done.bad_lines
        );
    }
    Ok((journal, done))
}

/// Opens the journal at `path` for a run with `header`: a new one (written with its header),
/// or with `resume` an existing one, read back into [`Done`] (a missing or empty one is
/// started afresh).
///
/// # Errors
///
/// A message for exit 2: the file exists without `resume`; it is not a journal; its header
/// does not match (every differing part is named); it cannot be read or written.
pub fn open(path: &Path, header: &Header, resume: bool) -> Result<(Journal, Done), String> {
    let shown = path.display();
    if path.is_dir() {
        return Err(format!("--journal {shown} is a directory"));
    }
    // Locked first (which creates the file empty if missing), then looked at: what another
    // run did before the lock was free is seen.
    let lock = lock(path)?;
    let existing = lock
        .metadata()
        .map_err(|e| format!("cannot read --journal {shown}: {e}"))?
        .len()
        > 0;
    if existing && !resume {
        return Err(format!(
            "--journal {shown} already exists: add --resume to continue it, or remove it to \
             start over"
        ));
    }
    let mut done = Done::default();
    let file = if existing {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open --journal {shown}: {e}"))?;
        let keep = read_back(&file, header, &mut done).map_err(|e| match e {
            ReadBack::Io(e) => format!("cannot read --journal {shown}: {e}"),
            ReadBack::NotAJournal => format!(
                "--journal {shown} is not a corral journal (its first line is not a journal \
                 header)"
            ),
            ReadBack::Mismatch(why) => format!(
                "--journal {shown} was written for another run, so it cannot be resumed: {}",
                why.join("; ")
            ),
        })?;
        if done.torn_line.is_some() {
            file.set_len(keep)
                .and_then(|()| file.sync_data())
                .map_err(|e| format!("cannot cut the torn last line of {shown}: {e}"))?;
        }
        drop(file);
        OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open --journal {shown}: {e}"))?
    } else {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| format!("cannot create --journal {shown}: {e}"))?;
        let mut line = serde_json::to_vec(header).map_err(|e| e.to_string())?;
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write --journal {shown}: {e}"))?;
        sync_parent(path);
        drop(file);
        OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open --journal {shown}: {e}"))?
    };
    let dirty = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let file = file
            .try_clone()
            .map_err(|e| format!("cannot open --journal {shown}: {e}"))?;
        let (dirty, stop) = (dirty.clone(), stop.clone());
        std::thread::Builder::new()
            .name("corral-journal-sync".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(SYNC_EVERY);
                    if dirty.swap(false, Ordering::AcqRel) {
                        // A failure shows again in the final sync, which reports it.
                        let _ = file.sync_data();
                    }
                }
            })
            .map_err(|e| format!("cannot start the journal's fsync thread: {e}"))?
    };
    Ok((
        Journal {
            _lock: lock,
            out: BufWriter::with_capacity(64 * 1024, file),
            last_write: Instant::now(),
            dirty,
            stop,
            syncer: Some(syncer),
            error: None,
        },
        done,
    ))
}

/// Takes the journal's advisory lock (`flock`), so that two runs never append to one journal
/// (both would fetch what is left).
fn lock(path: &Path) -> Result<File, String> {
    let shown = path.display();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open --journal {shown}: {e}"))?;
    #[cfg(unix)]
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| match e {
            rustix::io::Errno::WOULDBLOCK => {
                format!("--journal {shown} is in use by another corral fetch: one run per journal")
            }
            e => format!("cannot lock --journal {shown}: {e}"),
        },
    )?;
    Ok(file)
}

/// The directory entry of a new file is durable only once its directory is synced.
fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

enum ReadBack {
    Io(io::Error),
    NotAJournal,
    Mismatch(Vec<String>),
}

/// Reads an existing journal into `done`; returns the length to keep (all of it, or up to
/// the torn last line).
fn read_back(file: &File, header: &Header, done: &mut Done) -> Result<u64, ReadBack> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::new();
    let mut read = |buf: &mut Vec<u8>| {
        buf.clear();
        reader.read_until(b'\n', buf).map_err(ReadBack::Io)
    };
    let n = read(&mut buf)?;
    let first: Header = match serde_json::from_slice(buf.trim_ascii()) {
        Ok(h) if buf.ends_with(b"\n") => h,
        _ => return Err(ReadBack::NotAJournal),
    };
    let why = first.mismatches(header);
    if !why.is_empty() {
        return Err(ReadBack::Mismatch(why));
    }
    let mut keep = n as u64;
    let mut line = 1u64;
    // A bad line is torn if it is the last; one seen before another line was only skipped.
    let mut pending_bad: Option<(u64, u64)> = None;
    loop {
        let n = read(&mut buf)?;
        if n == 0 {
            break;
        }
        line += 1;
        if let Some((bad, _)) = pending_bad.take() {
            if done.bad_lines.len() < 8 {
                done.bad_lines.push(bad);
            }
        }
        let complete = buf.ends_with(b"\n");
        let text = buf.trim_ascii();
        match serde_json::from_slice::<Record>(text) {
            Ok(r) if complete => {
                if r.is_final() {
                    done.insert(&r);
                }
            }
            _ if complete && text.is_empty() => {}
            _ => pending_bad = Some((line, keep)),
        }
        keep += n as u64;
    }
    if let Some((bad, at)) = pending_bad {
        done.torn_line = Some(bad);
        keep = at;
    }
    Ok(keep)
}

impl Journal {
    /// Appends `r` if it is final; it reaches the file within [`SYNC_EVERY`].
    pub fn append(&mut self, r: &Record) {
        if !r.is_final() || self.error.is_some() {
            return;
        }
        let result = serde_json::to_writer(&mut self.out, r)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.error = Some(e);
            return;
        }
        if self.last_write.elapsed() >= SYNC_EVERY {
            self.write_out();
        }
    }

    /// Writes what is buffered to the file (the fsync thread then syncs it).
    pub fn write_out(&mut self) {
        self.last_write = Instant::now();
        if self.error.is_some() || self.out.buffer().is_empty() {
            return;
        }
        match self.out.flush() {
            Ok(()) => {
                self.dirty.store(true, Ordering::Release);
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Writes and fsyncs everything, and stops the fsync thread.
    ///
    /// # Errors
    ///
    /// A write or the fsync failed (then some records may not be in the journal).
    pub fn finish(mut self) -> io::Result<()> {
        self.write_out();
        self.stop_syncer();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.get_ref().sync_data()
    }

    fn stop_syncer(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.syncer.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop_syncer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("corral-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.jsonl")
    }

    fn header(timeout: &str) -> Header {
        let mut flags = BTreeMap::new();
        flags.insert("timeout".to_owned(), timeout.to_owned());
        Header::new(Fingerprint::of_args(&["http://a/".into()]), flags)
    }

    fn rec(index: u64, kind: Option<crate::record::ErrorKind>) -> Record {
        let mut r = Record::failed(
            index,
            index + 1,
            "http://a/".into(),
            crate::record::ErrorKind::Status,
            "x".into(),
        );
        r.error_kind = kind;
        r.ok = kind.is_none();
        r
    }

    #[test]
    fn a_header_line_is_told_from_a_record() {
        let line = serde_json::to_vec(&header("2s")).unwrap();
        assert!(crate::report::is_header(&line));
        assert!(!crate::report::is_header(b"{\"index\":0}"));
    }

    #[test]
    fn a_journal_is_resumed_with_only_final_records_done_and_a_torn_line_cut() {
        use crate::record::ErrorKind;
        let path = scratch("resume");
        let (mut j, done) = open(&path, &header("2s"), false).unwrap();
        assert_eq!(done.count, 0);
        j.append(&rec(0, None));
        j.append(&rec(1, Some(ErrorKind::Cancelled)));
        j.append(&rec(2, Some(ErrorKind::Timeout)));
        j.finish().unwrap();
        // A crash mid-write leaves a line without its end.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"index":3,"url":"http:"#).unwrap();
        drop(f);

        let e = open(&path, &header("2s"), false).err().unwrap();
        assert!(e.contains("add --resume"), "{e}");
        let e = open(&path, &header("5s"), true).err().unwrap();
        assert!(e.contains("--timeout was 2s, is now 5s"), "{e}");

        let (mut j, done) = open(&path, &header("2s"), true).unwrap();
        assert_eq!((done.count, done.ok, done.torn_line), (2, 1, Some(4)));
        assert!(done.contains(0) && !done.contains(1) && done.contains(2) && !done.contains(3));
        j.append(&rec(3, None));
        j.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[3].starts_with(r#"{"index":3,"#), "{text}");
        let (_, done) = open(&path, &header("2s"), true).unwrap();
        assert_eq!((done.count, done.torn_line), (3, None));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn a_journal_in_use_is_refused_and_free_again_once_closed() {
        let path = scratch("lock");
        let (first, _) = open(&path, &header("2s"), true).unwrap();
        let e = open(&path, &header("2s"), true).err().unwrap();
        assert!(e.contains("in use by another corral fetch"), "{e}");
        drop(first);
        assert!(open(&path, &header("2s"), true).is_ok());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_changed_input_file_is_named_in_the_mismatch() {
        let path = scratch("input");
        let input = path.with_file_name("urls.txt");
        std::fs::write(&input, "http://a/\n").unwrap();
        let was = Header::new(Fingerprint::of_file(&input).unwrap(), BTreeMap::new());
        std::fs::write(&input, "http://b/\n").unwrap();
        let is = Header::new(Fingerprint::of_file(&input).unwrap(), BTreeMap::new());
        let why = was.mismatches(&is).join("; ");
        assert!(why.contains("first MiB"), "{why}");
        assert!(was.mismatches(&was.clone()).is_empty());
        let stdin = Header::new(Fingerprint::stdin(), BTreeMap::new());
        assert!(stdin.mismatches(&stdin.clone())[0].contains("stdin"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
