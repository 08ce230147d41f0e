//! Bytes per task: every case of the `coord` bench run once under a counting global allocator,
//! each in a fresh child process, at N = 10,000 and 100,000.
//!
//! `cargo bench -p corral --bench alloc` prints one table: bytes allocated per task, allocations
//! per task, peak live heap per task (above what was live before the run), and the child's peak
//! RSS (VmHWM). It also writes the rows to `target/alloc.json` for `bench/report.py`.
//! A filter argument keeps the cases whose `mode/name` contains it.

// A counting allocator implements `GlobalAlloc`, an unsafe trait: the one place outside the
// library's core where `unsafe` is allowed (the crate denies it in Cargo.toml).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

mod common;
use common::{cases, expected, runtime};

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
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            // a realloc counts as a new allocation of the new size, and frees the old one
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ALLOC_SIZES: [usize; 2] = [10_000, 100_000];

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
    let filter = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_default();
    let exe = std::env::current_exe().expect("own path");
    let mut rows = Vec::new();
    println!(
        "| mode | case | N | bytes/task | allocs/task | peak heap/task | peak RSS |\n|---|---|---|---|---|---|---|"
    );
    for (index, case) in cases().iter().enumerate() {
        let id = format!("{}/{}", case.mode.group(), case.name);
        if !id.contains(&filter) {
            continue;
        }
        for n in ALLOC_SIZES {
            let out = Command::new(&exe)
                .args(["--case", &index.to_string(), &n.to_string()])
                .output()
                .expect("child ran");
            assert!(
                out.status.success(),
                "{id} {n}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<usize> = text
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            let (bytes, calls, peak, hwm) = (f[0], f[1], f[2], f[3]);
            println!(
                "| {} | {} | {n} | {:.0} | {:.2} | {:.0} | {:.1} MB |",
                case.mode.group(),
                case.name,
                bytes as f64 / n as f64,
                calls as f64 / n as f64,
                peak as f64 / n as f64,
                hwm as f64 / 1e6
            );
            rows.push(format!(
                "{{\"mode\":\"{}\",\"case\":\"{}\",\"n\":{n},\"bytes\":{bytes},\"allocs\":{calls},\"peak\":{peak},\"hwm\":{hwm}}}",
                case.mode.group(),
                case.name
            ));
        }
    }
    // target/<profile>/deps/alloc-HASH -> target/alloc.json
    if let Some(target) = exe.ancestors().nth(3) {
        let path = target.join("alloc.json");
        let json = format!("[\n{}\n]\n", rows.join(",\n"));
        if std::fs::write(&path, json).is_ok() {
            eprintln!("wrote {}", path.display());
        }
    }
}
