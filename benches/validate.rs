//! `cargo bench --bench validate`: what produce-time record validation
//! costs per batch, against the header-and-CRC check it replaced (the
//! baseline, measured in the same run). Batches are what librdkafka sends
//! at `batch.size=1 MiB`: 1,000 records of 1 KiB (half random, half
//! repeated bytes, so compression has something to do), uncompressed and
//! compressed with lz4 and zstd. Prints, per codec, the median time per
//! batch over `WEIR_BENCH_RUNS` (default 15) rounds of 200 validations,
//! and the bytes per second that makes (uncompressed bytes).
//! Run without `--bench` (as `cargo test --all-targets` does) it does
//! nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use weir::config::{BrokerConfig, LogConfig};
use weir::record::batch::{BatchView, Compression};
use weir::record::records::{BatchBuilder, Record};
use weir::storage::log_validator::validate_client_batch;
use weir::storage::TopicPartition;

const RECORDS: usize = 1_000;
const RECORD_BYTES: usize = 1_024;
const ROUND: usize = 200;

fn value(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..RECORD_BYTES)
        .map(|i| {
            if i % 2 == 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            } else {
                b'w'
            }
        })
        .collect()
}

fn batch(codec: Compression, now: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, now).compression(codec);
    for i in 0..RECORDS {
        b.push(Record::new(None, Some(value(i as u64 + 1)), now));
    }
    b.build().to_vec()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median seconds per call of `f` over `runs` rounds.
fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    let samples = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUND {
                f();
            }
            start.elapsed().as_secs_f64() / ROUND as f64
        })
        .collect();
    median(samples)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("WEIR_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let config = LogConfig::resolve(&BrokerConfig::default(), &BTreeMap::new());
    let tp = TopicPartition::new("bench", 0);
    let now = 1_700_000_000_000;
    let raw_bytes = (RECORDS * RECORD_BYTES) as f64;
    println!("{:<6} {:>10} {:>16} {:>16} {:>10}", "codec", "batch", "baseline/batch", "validate/batch", "validate");
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let bytes = batch(codec, now);
        validate_client_batch(&bytes, &config, &tp, now).expect("valid batch");
        // The check produce did before: header parse and CRC.
        let baseline = time(runs, || {
            black_box(BatchView::parse_valid(black_box(&bytes)).expect("valid").header());
        });
        let validate = time(runs, || {
            black_box(validate_client_batch(black_box(&bytes), &config, &tp, now).expect("valid"));
        });
        println!(
            "{:<6} {:>8} KiB {:>13.1} us {:>13.1} us {:>6.0} MB/s",
            codec.name(),
            bytes.len() / 1024,
            baseline * 1e6,
            validate * 1e6,
            raw_bytes / validate / 1e6
        );
        println!(
            "BENCH name=validate-{} metric=us_per_batch baseline={:.1} current={:.1}",
            codec.name(),
            baseline * 1e6,
            validate * 1e6
        );
    }
}
