//! Built-in face engine cost on one core: model load time and memory, and per-frame latency of
//! detect + embed on a 640-pixel selfie-sized frame (docs/face-engine.md "Liveness" plans ~15
//! frames per liveness burst at ≤640 px). Needs `scripts/fetch-face-models.sh`; prints a skip line
//! otherwise.
//!
//! Run: `cargo bench -p idgate-face` (matrixmultiply runs single-threaded without its `threading`
//! feature, so the figures are per core).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use idgate_face::image;
use idgate_face::models::{DEFAULT_MODELS_DIR, MODELS_ENV};
use idgate_face::{BuiltinEngine, FaceEngine, Image};

fn models_dir() -> PathBuf {
    std::env::var_os(MODELS_ENV).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(DEFAULT_MODELS_DIR),
        PathBuf::from,
    )
}

/// Resident set size in MiB from `/proc/self/statm` (Linux), if readable.
fn rss_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

/// CPU time (user + system) this thread has used, from `/proc/thread-self/stat` (Linux, 10 ms
/// ticks). Wall-clock latency on a shared machine measures the neighbours too; CPU time does not.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn frame() -> Option<Image> {
    let bytes = std::fs::read(models_dir().join("photos/obama.jpg")).ok()?;
    let img = image::decode(&bytes).ok()?;
    let h = (img.height * 640).div_ceil(img.width);
    image::resize(&img, 640, h).ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn bench(c: &mut Criterion) {
    let before = rss_mib();
    let t = Instant::now();
    let engine = BuiltinEngine::embedded().expect("vendored weights load");
    let load = t.elapsed();
    let after = rss_mib();
    eprintln!(
        "model load: {load:?}; RSS before {:.1} MiB, after {:.1} MiB (+{:.1} MiB)",
        before.unwrap_or(f64::NAN),
        after.unwrap_or(f64::NAN),
        after.unwrap_or(f64::NAN) - before.unwrap_or(f64::NAN)
    );
    let Some(frame) = frame() else {
        eprintln!("skipped: photos/obama.jpg not found; run scripts/fetch-face-models.sh");
        return;
    };

    // Percentiles from a plain loop (criterion reports means and medians only).
    let mut detect_times = Vec::new();
    let mut embed_times = Vec::new();
    let mut total_times = Vec::new();
    let cpu_start = thread_cpu();
    for _ in 0..30 {
        let t0 = Instant::now();
        let faces = engine.detect(&frame).expect("detect");
        let t1 = Instant::now();
        let face = faces.first().expect("a face in the benchmark frame");
        let _ = engine.embed(&frame, face).expect("embed");
        let t2 = Instant::now();
        detect_times.push(t1 - t0);
        embed_times.push(t2 - t1);
        total_times.push(t2 - t0);
    }
    if let (Some(a), Some(b)) = (cpu_start, thread_cpu()) {
        eprintln!(
            "detect+embed CPU time per frame: {:?} (mean of 30)",
            (b - a) / 30
        );
    }
    for (name, v) in [
        ("detect+landmarks", &mut detect_times),
        ("embed (align+ResNet)", &mut embed_times),
        ("detect+embed", &mut total_times),
    ] {
        v.sort();
        eprintln!(
            "{name} on {}x{}: p50 {:?}, p99 {:?} (n = {})",
            frame.width,
            frame.height,
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.len()
        );
    }

    let mut group = c.benchmark_group("builtin");
    group.sample_size(20);
    group.bench_function("load", |b| {
        b.iter(|| BuiltinEngine::embedded().expect("load"))
    });
    group.bench_function("detect_640", |b| {
        b.iter(|| engine.detect(&frame).expect("detect"))
    });
    let face = engine.detect(&frame).expect("detect").remove(0);
    group.bench_function("embed", |b| {
        b.iter(|| engine.embed(&frame, &face).expect("embed"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
