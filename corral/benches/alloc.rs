//! Bytes per task: every case of the `coord` bench run once under a counting global allocator,
//! each in a fresh child process, at N = 10,000 and 100,000.
//!
//! `cargo bench -p tokio-corral --bench alloc` prints one table: bytes allocated per task, allocations
//! per task, peak live heap per task (above what was live before the run), and the child's peak
//! RSS (VmHWM), then each corral case next to its bar (`common::bar`: TaskGroup next to
//! JoinSet, spawned gather-like cases next to `Vec<JoinHandle>`). It also writes the rows to `target/alloc.json` for `bench/report.py`.
//! A filter argument keeps the cases whose `mode/name` contains it, and their bars;
//! `--json FILE` writes the rows there instead (cargo runs benches from `corral/`, so give an
//! absolute path).

// A counting allocator implements `GlobalAlloc`, an unsafe trait: the one place outside the
// library's core where `unsafe` is allowed (the crate denies it in Cargo.toml).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

mod common;
use common::{cases, expected, runtime, Case};

/// Counts bytes and calls, and tracks the live and peak heap.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    ALLOCATED.fetch_add(size, Relaxed);
    ALLOCS.fetch_add(1, Relaxed);
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe {
            let p = System.alloc(layout);
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe {
            let p = System.alloc_zeroed(layout);
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe {
            System.dealloc(ptr, layout);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            let p = System.realloc(ptr, layout, new_size);
            if !p.is_null() {
                // a realloc counts as a new allocation of the new size, and frees the old one
                LIVE.fetch_sub(layout.size(), Relaxed);
                grew(new_size);
            }
            p
        }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ALLOC_SIZES: [usize; 2] = [10_000, 100_000];

/// One case's figures at one N, from its child process.
struct Row<'a> {
    case: &'a Case,
    n: usize,
    bytes: usize,
    calls: usize,
    peak: usize,
    hwm: usize,
}

impl Row<'_> {
    fn per_task(&self, v: usize) -> f64 {
        v as f64 / self.n as f64
    }

    fn json(&self) -> String {
        let bar = self
            .case
            .bar()
            .map_or("null".to_string(), |b| format!("\"{b}\""));
        format!(
            "{{\"mode\":\"{}\",\"case\":\"{}\",\"bar\":{bar},\"n\":{},\"bytes\":{},\"allocs\":{},\"peak\":{},\"hwm\":{}}}",
            self.case.mode.group(),
            self.case.name,
            self.n,
            self.bytes,
            self.calls,
            self.peak,
            self.hwm
        )
    }
}

/// Each corral case next to its bar (TaskGroup next to JoinSet, the spawned gather-like cases
/// next to `Vec<JoinHandle>`, see `common::bar`), when both were measured.
fn print_against_bars(rows: &[Row]) {
    let mut lines = Vec::new();
    for r in rows.iter().filter(|r| r.case.is_corral()) {
        let Some(bar) = r.case.bar() else { continue };
        let Some(b) = rows
            .iter()
            .find(|b| b.case.mode == r.case.mode && b.case.name == bar && b.n == r.n)
        else {
            continue;
        };
        lines.push(format!(
            "| {} | {} | {bar} | {} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.0} |",
            r.case.mode.group(),
            r.case.name,
            r.n,
            r.per_task(r.bytes),
            b.per_task(b.bytes),
            r.bytes as f64 / b.bytes as f64,
            r.per_task(r.peak),
            b.per_task(b.peak),
        ));
    }
    if lines.is_empty() {
        return;
    }
    println!("\nEach corral case next to its bar (bytes and peak heap per task):\n");
    println!("| mode | case | bar | N | bytes/task | bar's | ÷ bar | peak/task | bar's |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
}

/// A `/proc/self/status` field in bytes (`VmHWM`, `VmRSS`).
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// In the child: run case `index` once over `n` tasks and print one line of figures.
fn child(index: usize, n: usize) {
    let case = &cases()[index];
    let rt = runtime();
    // warm the runtime and the allocator, so that one-off set-up is not charged to the tasks
    assert_eq!(rt.block_on((case.run)(1_000)), expected(1_000));
    let allocated = ALLOCATED.load(Relaxed);
    let allocs = ALLOCS.load(Relaxed);
    let live = LIVE.load(Relaxed);
    PEAK.store(live, Relaxed);
    let sum = rt.block_on((case.run)(n));
    assert_eq!(sum, expected(n), "{} over {n} tasks", case.name);
    let bytes = ALLOCATED.load(Relaxed) - allocated;
    let calls = ALLOCS.load(Relaxed) - allocs;
    let peak = PEAK.load(Relaxed) - live;
    println!("{bytes} {calls} {peak} {}", status_bytes("VmHWM"));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--case") {
        let index = args[pos + 1].parse().expect("--case INDEX");
        let n = args[pos + 2].parse().expect("--case INDEX N");
        child(index, n);
        return;
    }
    // `--json FILE`: where the rows go (default target/alloc.json)
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .map(|pos| match args.get(pos + 1) {
            Some(path) => std::path::PathBuf::from(path),
            None => {
                eprintln!("alloc: --json needs a file name");
                std::process::exit(2);
            }
        });
    let filter = args
        .iter()
        .enumerate()
        .find(|&(i, a)| !a.starts_with('-') && (i == 0 || args[i - 1] != "--json"))
        .map(|(_, a)| a.clone())
        .unwrap_or_default();
    let exe = std::env::current_exe().expect("own path");
    let all = cases();
    let mut rows: Vec<Row> = Vec::new();
    println!(
        "| mode | case | N | bytes/task | allocs/task | peak heap/task | peak RSS |\n|---|---|---|---|---|---|---|"
    );
    // the cases the filter picks, and their bars, so that each can be shown next to its bar
    let picked: Vec<String> = all
        .iter()
        .filter(|c| c.id().contains(&filter))
        .flat_map(|c| {
            let bar = c.bar().map(|b| format!("{}/{b}", c.mode.group()));
            std::iter::once(c.id()).chain(bar)
        })
        .collect();
    for (index, case) in all.iter().enumerate() {
        if !picked.contains(&case.id()) {
            continue;
        }
        for n in ALLOC_SIZES {
            let out = Command::new(&exe)
                .args(["--case", &index.to_string(), &n.to_string()])
                .output()
                .expect("child ran");
            assert!(
                out.status.success(),
                "{} {n}: {}",
                case.id(),
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<usize> = text
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            let row = Row {
                case,
                n,
                bytes: f[0],
                calls: f[1],
                peak: f[2],
                hwm: f[3],
            };
            println!(
                "| {} | {} | {n} | {:.0} | {:.2} | {:.0} | {:.1} MB |",
                case.mode.group(),
                case.name,
                row.per_task(row.bytes),
                row.per_task(row.calls),
                row.per_task(row.peak),
                row.hwm as f64 / 1e6
            );
            rows.push(row);
        }
    }
    print_against_bars(&rows);
    let rows: Vec<String> = rows.iter().map(Row::json).collect();
    // target/<profile>/deps/alloc-HASH -> target/alloc.json
    let path = json_path.or_else(|| Some(exe.ancestors().nth(3)?.join("alloc.json")));
    if let Some(path) = path {
        let json = format!("[\n{}\n]\n", rows.join(",\n"));
        match std::fs::write(&path, json) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => eprintln!("alloc: cannot write {}: {e}", path.display()),
        }
    }
}
