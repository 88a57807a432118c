//! The wall clock in Kafka's unit: milliseconds since the Unix epoch, as
//! Kafka's `Time.SYSTEM.milliseconds()`. Segments, logs, replication, group
//! coordination, handlers and the metadata log all stamp and compare times
//! with it, so it lives below all of them rather than in `storage`. Also
//! the machine's monotonic clock, for latency traces that processes compare.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process on the
/// machine (unlike `Instant`, whose origin is private), so request and
/// replication timestamps of several brokers compare directly.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC
    // exists on every supported system.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
