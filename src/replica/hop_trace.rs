//! A debug trace of where the time of a replicated write goes (issue 12's
//! hop breakdown). With the environment variable `WEIR_HOP_TRACE` set to a
//! file path, each leader partition follows the batches it appends on
//! their way: produce request received, produce handling started, batch
//! appended, sent to each follower in a fetch response, acknowledged by
//! each follower (its next fetch starts past the batch), high watermark
//! past the batch, produce response ready, and first returned to a
//! consumer. One line per batch goes to the file once a consumer has
//! read it (or once it is evicted unread), with absolute
//! `util::clock::monotonic_ns` times, so lines of all brokers on one machine
//! compare directly (`benches/throughput.rs` reads them).
//!
//! Unset (the default), nothing is recorded: each hook is one branch on a
//! `None`. The trace is a measuring tool, not a metric: Kafka's request
//! metrics (issue 17) are the operator's view.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::{Mutex, OnceLock};

use crate::util::clock::monotonic_ns;

/// Samples kept per partition before the oldest are written out unread.
const MAX_PENDING: usize = 4096;

/// The trace file, opened on first use if `WEIR_HOP_TRACE` is set.
fn sink() -> Option<&'static Mutex<File>> {
    static SINK: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os("WEIR_HOP_TRACE").filter(|p| !p.is_empty())?;
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                tracing::warn!(path = ?path, error = %e, "cannot open the hop trace file; not tracing");
                None
            }
        }
    })
    .as_ref()
}

/// One traced batch. Times are `monotonic_ns`, 0 when not (yet) reached.
#[derive(Debug, Default)]
struct Sample {
    last_offset: i64,
    acks: i16,
    received: u64,
    started: u64,
    appended: u64,
    followers: Vec<FollowerHops>,
    high_watermark: u64,
    response: u64,
    consumed: u64,
}

/// One follower's part in a traced batch.
#[derive(Debug, Default)]
struct FollowerHops {
    replica: i32,
    /// The batch left in a fetch response to this follower.
    sent: u64,
    /// The follower's next fetch, past the batch, arrived (its frame read).
    ack_received: u64,
    /// That fetch was handled (the leader recorded the follower's position).
    acked: u64,
}

/// The pending samples of one leader partition.
#[derive(Debug)]
pub struct HopTrace {
    label: String,
    pending: Mutex<VecDeque<Sample>>,
}

impl HopTrace {
    /// A trace for partition `label` on `node`, or `None` when tracing is off.
    pub fn new(node: i32, label: &str) -> Option<Self> {
        sink()?;
        Some(HopTrace { label: format!("node={node} tp={label}"), pending: Mutex::new(VecDeque::new()) })
    }

    /// A batch ending at `last_offset` was appended as leader; the high
    /// watermark may already be past it (no follower in the ISR).
    pub fn appended(&self, last_offset: i64, acks: i16, received: u64, started: u64, high_watermark: i64) {
        let mut pending = self.pending.lock().expect("hop trace lock");
        if pending.len() >= MAX_PENDING {
            if let Some(old) = pending.pop_front() {
                self.write(&old);
            }
        }
        let now = monotonic_ns();
        pending.push_back(Sample {
            last_offset,
            acks,
            received,
            started,
            appended: now,
            high_watermark: if high_watermark > last_offset { now } else { 0 },
            ..Sample::default()
        });
    }

    /// A follower fetch returned records up to `end` (exclusive) to
    /// `replica`, whose fetch started at `fetch_offset`: batches below the
    /// fetch offset are acknowledged, batches below `end` are sent.
    pub fn follower_fetch(&self, replica: i32, fetch_offset: i64, end: i64, received_ns: u64) {
        let now = monotonic_ns();
        let mut pending = self.pending.lock().expect("hop trace lock");
        for s in pending.iter_mut().filter(|s| s.last_offset < end.max(fetch_offset)) {
            let slot = match s.followers.iter().position(|f| f.replica == replica) {
                Some(i) => &mut s.followers[i],
                None => {
                    s.followers.push(FollowerHops { replica, ..FollowerHops::default() });
                    s.followers.last_mut().expect("just pushed")
                }
            };
            if slot.sent == 0 && s.last_offset < end {
                slot.sent = now;
            }
            if slot.acked == 0 && s.last_offset < fetch_offset {
                slot.acked = now;
                slot.ack_received = if received_ns > 0 { received_ns } else { now };
            }
        }
    }

    /// The high watermark moved to `hw`.
    pub fn high_watermark(&self, hw: i64) {
        let now = monotonic_ns();
        let mut pending = self.pending.lock().expect("hop trace lock");
        for s in pending.iter_mut().filter(|s| s.last_offset < hw && s.high_watermark == 0) {
            s.high_watermark = now;
        }
    }

    /// The produce response for the batch ending at `last_offset` is ready.
    pub fn responded(&self, last_offset: i64) {
        let now = monotonic_ns();
        let mut pending = self.pending.lock().expect("hop trace lock");
        if let Some(s) = pending.iter_mut().find(|s| s.last_offset == last_offset) {
            s.response = now;
        }
    }

    /// A consumer fetch returned records up to `end` (exclusive): those
    /// batches are done and written out.
    pub fn consumed(&self, end: i64) {
        let now = monotonic_ns();
        let mut pending = self.pending.lock().expect("hop trace lock");
        while pending.front().is_some_and(|s| s.last_offset < end) {
            let mut s = pending.pop_front().expect("front exists");
            s.consumed = now;
            self.write(&s);
        }
    }

    fn write(&self, s: &Sample) {
        let Some(sink) = sink() else { return };
        let mut line = format!(
            "hop {} offset={} acks={} received={} started={} appended={}",
            self.label, s.last_offset, s.acks, s.received, s.started, s.appended
        );
        for f in &s.followers {
            let r = f.replica;
            let _ = write!(line, " sent.{r}={} ackrx.{r}={} acked.{r}={}", f.sent, f.ack_received, f.acked);
        }
        let _ = writeln!(line, " hw={} response={} consumed={}", s.high_watermark, s.response, s.consumed);
        let _ = sink.lock().expect("hop trace sink lock").write_all(line.as_bytes());
    }
}

/// The offset after the last batch in `records` (stored batches, whole).
pub fn end_offset(records: &[u8]) -> Option<i64> {
    let mut rest = records;
    let mut end = None;
    while let Some(h) = crate::record::batch::BatchHeader::parse(rest) {
        end = Some(h.last_offset() + 1);
        rest = rest.get(h.size()..)?;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offset_walks_every_batch() {
        use crate::record::records::{BatchBuilder, Record};
        let batch = |base: i64, n: usize| {
            let mut b = BatchBuilder::new(base, 0);
            for _ in 0..n {
                b.push(Record::new(None, Some(b"v".to_vec()), 0));
            }
            b.build()
        };
        let mut bytes = batch(10, 2).to_vec();
        bytes.extend_from_slice(&batch(12, 1));
        assert_eq!(end_offset(&bytes), Some(13));
        assert_eq!(end_offset(&[]), None);
    }
}
