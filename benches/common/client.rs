//! The benches' librdkafka client context: counts producer deliveries (and
//! when the last one arrived) and shows librdkafka's warnings and errors on
//! stderr instead of the (absent) `log` backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::{bail, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext};

/// The `group.id` of the benches' consumers (they `assign()`, so the
/// group only holds no commits; librdkafka still looks up its coordinator).
pub const BENCH_GROUP: &str = "weir-bench";

/// Nanoseconds on a monotonic clock shared by everything in the process.
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[derive(Default)]
pub struct BenchContext {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// `now_ns()` at the most recent delivery callback (0: none yet).
    last_delivery_ns: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl BenchContext {
    /// Deliveries that completed, successfully or not.
    pub fn completed(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    /// `now_ns()` when the latest delivery callback ran, if any has.
    pub fn last_delivery_ns(&self) -> Option<u64> {
        match self.last_delivery_ns.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// Fails if any delivery failed.
    pub fn check(&self) -> Result<()> {
        match self.failed.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => {
                let first = self.first_error.lock().map(|e| e.clone()).unwrap_or_default();
                bail!("{n} deliveries failed, first: {}", first.as_deref().unwrap_or("?"))
            }
        }
    }
}

impl ClientContext for BenchContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            eprintln!("librdkafka {level:?} {fac}: {message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ConsumerContext for BenchContext {}

impl ProducerContext for BenchContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
        self.last_delivery_ns.store(now_ns().max(1), Ordering::Relaxed);
    }
}
