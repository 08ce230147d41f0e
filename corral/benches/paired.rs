//! Paired timing: each case against its bar peer, side by side in one run.
//!
//! For every case that has a bar ([`common::bar`]: corral's cases and the peers that are not a
//! bar), it runs `--rounds` rounds of the case (A) and its bar (B), each over the whole
//! N-task run on one tokio multi-thread runtime with 2 workers (as `coord.rs`). Round r runs A
//! then B when r is even and B then A when it is odd, so that neither side always goes first.
//! Each round gives one ratio A/B; the bench prints the median ratio and its interquartile
//! range, the median times of each side, and the load average (/proc/loadavg) before and after
//! each pair and the whole run. The ratios come from runs seconds apart under the same load,
//! not from two medians taken minutes apart.
//!
//! ```sh
//! cargo bench -p tokio-corral --bench paired                       # N = 100,000, 30 rounds
//! cargo bench -p tokio-corral --bench paired -- --n 1000 --rounds 3 --filter taskgroup
//! cargo bench -p tokio-corral --bench paired -- --json "$PWD/bench/out/paired_peers.json"
//! cargo bench -p tokio-corral --bench paired -- --list             # the case ids
//! cargo bench -p tokio-corral --bench paired -- --case spawned/corral_gather --n 1000 --once
//! ```
//!
//! (cargo runs a bench from `corral/`, so give `--json` an absolute path; `bench/paired.sh`
//! runs this and the asyncio pairs and writes everything to `bench/out/`.)
//!
//! `--once` runs one case in this process (`--warmup` untimed runs, then one timed run) and
//! prints `{"case":…,"n":…,"seconds":…}`: `bench/paired_asyncio.py` alternates it with
//! `bench/asyncio_coord.py --case` to pair corral with asyncio in separate processes.

use std::fmt::Write as _;
use std::time::Instant;

use tokio::runtime::Runtime;

mod common;
use common::{cases, expected, runtime, Case};

const USAGE: &str = "\
usage: paired [--n N] [--rounds R] [--filter SUBSTR] [--json FILE]
       paired --case MODE/NAME [--n N] [--warmup W] --once
       paired --list
  --n N            tasks per run (default 100000)
  --rounds R       rounds of A,B (or B,A) per pair (default 30)
  --filter SUBSTR  keep the pairs whose 'MODE/A vs B' contains SUBSTR
  --json FILE      also write every pair's figures and per-round times to FILE
  --case ID --once run one case (ids from --list) and print its time as JSON
  --warmup W       untimed runs before the timed one in --once (default 1)";

struct Args {
    n: usize,
    rounds: usize,
    filter: String,
    json: Option<String>,
    case: Option<String>,
    once: bool,
    warmup: usize,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 100_000,
        rounds: 30,
        filter: String::new(),
        json: None,
        case: None,
        once: false,
        warmup: 1,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag} takes a whole number, not {v:?}"))
        };
        match flag.as_str() {
            "--n" => args.n = number(value()?)?,
            "--rounds" => args.rounds = number(value()?)?,
            "--warmup" => args.warmup = number(value()?)?,
            "--filter" => args.filter = value()?,
            "--json" => args.json = Some(value()?),
            "--case" => args.case = Some(value()?),
            "--once" => args.once = true,
            "--list" => args.list = true,
            // `cargo bench` passes --bench to every bench binary
            "--bench" => {}
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.n == 0 || args.rounds == 0 {
        return Err("--n and --rounds must be at least 1".into());
    }
    if args.once != args.case.is_some() {
        return Err("--case and --once go together".into());
    }
    Ok(args)
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Seconds for one whole run of `case` over `n` tasks, checked.
fn time_run(rt: &Runtime, case: &Case, n: usize) -> f64 {
    let start = Instant::now();
    let sum = rt.block_on((case.run)(n));
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(sum, expected(n), "{} over {n} tasks", case.id());
    seconds
}

/// The q-quantile of sorted values, interpolated linearly between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// A time per task, in the unit that reads best.
fn per_task(seconds: f64, n: usize) -> String {
    let ns = seconds * 1e9 / n as f64;
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// One pair's rounds: the per-round times of A and B, and the load average around them.
struct Paired<'a> {
    a: &'a Case,
    b: &'a Case,
    a_s: Vec<f64>,
    b_s: Vec<f64>,
    load_before: String,
    load_after: String,
}

impl Paired<'_> {
    fn ratios(&self) -> Vec<f64> {
        self.a_s.iter().zip(&self.b_s).map(|(a, b)| a / b).collect()
    }
}

fn run_pair<'a>(rt: &Runtime, a: &'a Case, b: &'a Case, n: usize, rounds: usize) -> Paired<'a> {
    let load_before = loadavg();
    // one untimed run of each: the correctness check, and warm caches and allocator
    time_run(rt, a, n);
    time_run(rt, b, n);
    let (mut a_s, mut b_s) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        if round % 2 == 0 {
            a_s.push(time_run(rt, a, n));
            b_s.push(time_run(rt, b, n));
        } else {
            b_s.push(time_run(rt, b, n));
            a_s.push(time_run(rt, a, n));
        }
    }
    Paired {
        a,
        b,
        a_s,
        b_s,
        load_before,
        load_after: loadavg(),
    }
}

fn table_row(p: &Paired, n: usize) -> String {
    let r = sorted(&p.ratios());
    let (a, b) = (sorted(&p.a_s), sorted(&p.b_s));
    format!(
        "| {} | {} | {} | {:.3}× | {:.3}–{:.3} | {} | {} | {} → {} |",
        p.a.mode.group(),
        p.a.name,
        p.b.name,
        quantile(&r, 0.5),
        quantile(&r, 0.25),
        quantile(&r, 0.75),
        per_task(quantile(&a, 0.5), n),
        per_task(quantile(&b, 0.5), n),
        p.load_before,
        p.load_after,
    )
}

fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.9}")).collect();
    format!("[{}]", items.join(","))
}

fn to_json(pairs: &[Paired], args: &Args, load_before: &str, load_after: &str) -> String {
    let unix_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = format!(
        "{{\"kind\":\"peers\",\"n\":{},\"rounds\":{},\"workers\":2,\"nproc\":{},\"unix_time\":{unix_time},\
         \"loadavg_before\":\"{load_before}\",\"loadavg_after\":\"{load_after}\",\"pairs\":[",
        args.n,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |p| p.get()),
    );
    for (i, p) in pairs.iter().enumerate() {
        let r = sorted(&p.ratios());
        let (a, b) = (sorted(&p.a_s), sorted(&p.b_s));
        let _ = write!(
            out,
            "{}\n{{\"mode\":\"{}\",\"a\":\"{}\",\"b\":\"{}\",\"corral\":{},\
             \"ratio_median\":{:.6},\"ratio_q1\":{:.6},\"ratio_q3\":{:.6},\
             \"a_median_s\":{:.9},\"b_median_s\":{:.9},\
             \"loadavg_before\":\"{}\",\"loadavg_after\":\"{}\",\
             \"ratios\":{},\"a_s\":{},\"b_s\":{}}}",
            if i == 0 { "" } else { "," },
            p.a.mode.group(),
            p.a.name,
            p.b.name,
            p.a.is_corral(),
            quantile(&r, 0.5),
            quantile(&r, 0.25),
            quantile(&r, 0.75),
            quantile(&a, 0.5),
            quantile(&b, 0.5),
            p.load_before,
            p.load_after,
            json_list(&p.ratios()),
            json_list(&p.a_s),
            json_list(&p.b_s),
        );
    }
    out.push_str("\n]}\n");
    out
}

/// `--once`: one case in this process, printed as one JSON line.
fn once(all: &[Case], args: &Args, id: &str) -> Result<(), String> {
    let case = all.iter().find(|c| c.id() == id).ok_or_else(|| {
        format!("no case {id:?}: `--list` prints the ids (MODE/NAME, e.g. spawned/corral_gather)")
    })?;
    let rt = runtime();
    for _ in 0..args.warmup {
        time_run(&rt, case, args.n);
    }
    let load_before = loadavg();
    let seconds = time_run(&rt, case, args.n);
    println!(
        "{{\"case\":\"{id}\",\"n\":{},\"warmup\":{},\"seconds\":{seconds:.9},\"loadavg_before\":\"{load_before}\",\"loadavg_after\":\"{}\"}}",
        args.n,
        args.warmup,
        loadavg()
    );
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("paired: {msg}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if msg.is_empty() { 0 } else { 2 });
        }
    };
    let all = cases();
    if args.list {
        for c in &all {
            println!("{}", c.id());
        }
        return;
    }
    if let Some(id) = &args.case {
        if let Err(msg) = once(&all, &args, id) {
            eprintln!("paired: {msg}");
            std::process::exit(2);
        }
        return;
    }

    // corral's pairs first, then the peers against the bar
    let mut pairs: Vec<(&Case, &Case)> = Vec::new();
    for corral in [true, false] {
        for a in all.iter().filter(|c| c.is_corral() == corral) {
            let Some(bar) = a.bar() else { continue };
            let b = all
                .iter()
                .find(|c| c.mode == a.mode && c.name == bar)
                .expect("every bar is a case of its mode");
            if format!("{} vs {}", a.id(), b.name).contains(&args.filter) {
                pairs.push((a, b));
            }
        }
    }
    if pairs.is_empty() {
        eprintln!(
            "paired: no pair matches --filter {:?} (pairs read 'MODE/A vs B')",
            args.filter
        );
        std::process::exit(2);
    }

    let rt = runtime();
    let load_before = loadavg();
    println!(
        "paired: N = {}, {} rounds per pair (A B, then B A, alternating), tokio multi-thread runtime \
         with 2 workers; {} pairs; load average before {load_before}\n",
        args.n,
        args.rounds,
        pairs.len()
    );
    println!(
        "| mode | A | B (bar) | median A/B | IQR | A median | B median | load before → after |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut done = Vec::new();
    for (a, b) in pairs {
        let p = run_pair(&rt, a, b, args.n, args.rounds);
        println!("{}", table_row(&p, args.n));
        done.push(p);
    }
    let load_after = loadavg();
    println!("\nload average after {load_after}");
    if let Some(path) = &args.json {
        let json = to_json(&done, &args, &load_before, &load_after);
        if let Some(dir) = std::path::Path::new(path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::write(path, json) {
            Ok(()) => eprintln!("wrote {path}"),
            Err(e) => {
                eprintln!("paired: cannot write {path}: {e}");
                std::process::exit(1);
            }
        }
    }
}
