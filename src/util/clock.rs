//! The wall clock in Kafka's unit: milliseconds since the Unix epoch, as
//! Kafka's `Time.SYSTEM.milliseconds()`. Segments, logs, replication, group
//! coordination, handlers and the metadata log all stamp and compare times
//! with it, so it lives below all of them rather than in `storage`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
