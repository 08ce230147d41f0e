//! Time per task: corral's combinators against tokio, futures and futures-buffered doing the
//! same work, N = 1,000, 10,000 and 100,000 trivial tasks, on a tokio multi-thread runtime with
//! 2 workers.
//!
//! `cargo bench -p tokio-corral --bench coord` (a few minutes on 2 cores); a filter picks cases, e.g.
//! `cargo bench -p tokio-corral --bench coord -- 'spawned/'`. Results land in `target/criterion/<mode>/<case>/<N>/`;
//! `bench/report.py` turns them into the tables of BENCHMARKS.md and `bench/plot.py` into the plot.

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

mod common;
use common::{cases, expected, runtime, Mode, SIZES};

fn coord(c: &mut Criterion) {
    let rt = runtime();
    let cases = cases();
    for mode in Mode::ALL {
        let mut group = c.benchmark_group(mode.group());
        // Flat sampling: the same iteration count in every sample, so that the 100,000-task
        // cases (~0.1 s an iteration) stay within the measurement time.
        group.sampling_mode(SamplingMode::Flat);
        for &n in &SIZES {
            group.throughput(Throughput::Elements(n as u64));
            for case in cases.iter().filter(|c| c.mode == mode) {
                // a correctness check, once, outside the measurement
                let sum = rt.block_on((case.run)(n));
                assert_eq!(sum, expected(n), "{} over {n} tasks", case.name);
                group.bench_with_input(BenchmarkId::new(case.name, n), &n, |b, &n| {
                    b.to_async(&rt).iter(|| (case.run)(n));
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = coord
}
criterion_main!(benches);
