//! Drawing a sample from a large dossier table: a day's 25 calls from 1,000,000
//! dossiers, and a year's stratified 7,000 (the plan's 30 % of a busy province).
//!
//! The draw sorts and filters every candidate, so its cost is linear-ish in the table,
//! not in the sample: these figures bound how long "draw today's calls" takes.

use std::hint::black_box;
use std::time::Instant;

use carecall::dialer::sampling::{Exclusions, SampleRule, draw, synthetic_period, synthetic_year};
use carecall::dialer::units::UnitTree;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

const FIELDS: [&str; 6] = [
    "dat-dai",
    "ho-tich",
    "xay-dung",
    "kinh-doanh",
    "tu-phap",
    "giao-duc",
];

fn sampling(c: &mut Criterion) {
    // `cargo test --all-targets` / nextest list the benchmarks (`--list`): only the
    // names must reach stdout, and the million dossiers need not be built.
    if std::env::args().any(|a| a == "--list") {
        for size in [25, 7_000] {
            println!("sampling/draw {size} of 1M: benchmark");
        }
        return;
    }
    let units = UnitTree::shipped().expect("data/units.csv parses");
    let t = Instant::now();
    let dossiers = synthetic_year(&units, &FIELDS, 1_000_000, 2025);
    eprintln!(
        "generated {} synthetic dossiers in {:?}",
        dossiers.len(),
        t.elapsed()
    );
    let (from, to) = synthetic_period();
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let mut exclusions = Exclusions::default();
    // Some do-not-call numbers and last year's surveys, as in production.
    for c in dossiers.iter().step_by(500) {
        exclusions.do_not_call.insert(c.phone.clone());
    }
    for c in dossiers.iter().skip(7).step_by(100) {
        exclusions
            .last_surveyed
            .insert(c.phone.clone(), now - chrono::Duration::days(30));
    }

    for size in [25, 7_000] {
        let rule = SampleRule::new(from, to, size);
        let t = Instant::now();
        let s = draw(&dossiers, &rule, &exclusions, &units, 1, now);
        eprintln!(
            "draw {size} of {}: {:?} (one run; {} strata, excluded {:?})",
            dossiers.len(),
            t.elapsed(),
            s.strata.len(),
            s.excluded
        );
        let mut group = c.benchmark_group("sampling");
        group.sample_size(10);
        group.bench_function(format!("draw {size} of 1M"), |b| {
            b.iter(|| draw(black_box(&dossiers), &rule, &exclusions, &units, 1, now))
        });
        group.finish();
    }
}

criterion_group!(benches, sampling);
criterion_main!(benches);
