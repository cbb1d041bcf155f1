//! Cost of one complete liveness evaluation with the built-in engine: a burst of 8 real frames
//! (480 px, docs/face-engine.md "Liveness") answering a two-turn challenge, on one core (`threads =
//! 1`), and on two. Needs `scripts/fetch-face-models.sh`; prints a skip line otherwise.
//!
//! Run: `cargo bench -p idgate-face --bench liveness`. Target: under 1 s per burst on one core.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use idgate_face::challenge::{Action, Burst, Challenge, Frame, Nonce};
use idgate_face::image::{self, Region};
use idgate_face::liveness::{LivenessPolicy, evaluate};
use idgate_face::models::{DEFAULT_MODELS_DIR, MODELS_ENV};
use idgate_face::{BuiltinEngine, Image};

fn models_dir() -> PathBuf {
    std::env::var_os(MODELS_ENV).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(DEFAULT_MODELS_DIR),
        PathBuf::from,
    )
}

fn photo(name: &str) -> Option<Image> {
    let bytes = std::fs::read(models_dir().join("photos").join(name)).ok()?;
    let img = image::decode(&bytes).ok()?;
    let scale = 480.0 / img.width.max(img.height) as f32;
    image::resize(
        &img,
        (img.width as f32 * scale).round() as u32,
        (img.height as f32 * scale).round() as u32,
    )
    .ok()
}

fn inset(img: &Image, fraction: f32) -> Image {
    let (w, h) = (img.width as f32, img.height as f32);
    let region = Region {
        x: w * fraction,
        y: h * fraction,
        width: w * (1.0 - 2.0 * fraction),
        height: h * (1.0 - 2.0 * fraction),
    };
    image::crop(img, region).expect("crop inside the photo")
}

/// Eight distinct frames: neutral views of obama.jpg around obama2.jpg (turned to his right) and
/// its mirror (turned to his left).
fn burst() -> Option<(Challenge, Burst)> {
    let frontal = photo("obama.jpg")?;
    let turned = photo("obama2.jpg")?;
    let mirrored = image::mirror(&frontal);
    let images = [
        frontal.clone(),
        inset(&frontal, 0.03),
        turned.clone(),
        mirrored.clone(),
        inset(&mirrored, 0.04),
        image::mirror(&turned),
        inset(&frontal, 0.06),
        inset(&mirrored, 0.02),
    ];
    let issued = 1_700_000_000_000;
    let nonce = Nonce([1; 16]);
    let challenge = Challenge {
        actions: vec![Action::TurnRight, Action::TurnLeft],
        nonce,
        issued_at_ms: issued,
        expires_at_ms: issued + 60_000,
    };
    let frames = images
        .into_iter()
        .enumerate()
        .map(|(i, image)| Frame {
            image,
            captured_at_ms: issued + 2_000 + 200 * i as u64,
            sequence: None,
        })
        .collect();
    Some((challenge, Burst::new(nonce, issued + 6_000, frames).ok()?))
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`): on a shared, loaded machine the
/// wall-clock figures below include time spent waiting for a core, this does not.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn bench(c: &mut Criterion) {
    let engine = BuiltinEngine::embedded().expect("vendored weights load");
    let Some((challenge, burst)) = burst() else {
        eprintln!("skipped: photos not found; run scripts/fetch-face-models.sh");
        return;
    };
    let one_core = LivenessPolicy {
        threads: 1,
        ..LivenessPolicy::default()
    };
    let verdict = evaluate(&engine, &challenge, &burst, &one_core).expect("evaluation runs");
    assert!(
        verdict.live,
        "the benchmark burst must be live: {:?}",
        verdict.reasons
    );

    if let Some(start) = thread_cpu_ns() {
        let runs = 5;
        for _ in 0..runs {
            evaluate(&engine, &challenge, &burst, &one_core).expect("evaluation runs");
        }
        if let Some(end) = thread_cpu_ns() {
            let per_burst_ms = (end - start) as f64 / f64::from(runs) / 1e6;
            eprintln!("liveness: CPU time per 8-frame burst on one thread: {per_burst_ms:.0} ms");
        }
    }

    let mut group = c.benchmark_group("liveness");
    group.sample_size(10);
    group.bench_function("burst_of_8_frames_1_thread", |b| {
        b.iter(|| evaluate(&engine, &challenge, &burst, &one_core).expect("evaluation runs"));
    });
    let two_cores = LivenessPolicy {
        threads: 2,
        ..LivenessPolicy::default()
    };
    group.bench_function("burst_of_8_frames_2_threads", |b| {
        b.iter(|| evaluate(&engine, &challenge, &burst, &two_cores).expect("evaluation runs"));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
