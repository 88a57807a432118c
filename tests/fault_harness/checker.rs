//! The checker: Jepsen's queue counters over what the clients saw and
//! what the replicas stored, and availability figures over the
//! acknowledgement times. Safety counters (all must be 0):
//!
//! - lost: acknowledged, absent from the final read;
//! - dup-pes: one (producer id, epoch, sequence) stored at two offsets
//!   (the broker's duplicate check failed);
//! - inconsistent: one offset seen with two values by any two observers
//!   (an acknowledgement, a consumer, the final reader, a replica's log
//!   below the high watermark);
//! - nonmonotonic: a consumer reading an offset at or below one it read
//!   before in the same partition (within one assignment for a group);
//! - skipped: a consumer's next offset in a partition not following the
//!   previous one (offsets are dense here: no compaction, no transactions);
//! - divergent: a replica whose batches below the high watermark differ
//!   from another's (or are missing);
//! - unseen: acknowledged, never read by any consumer of the run.
//!
//! Reported, not failed: dup-values, the same value stored at two offsets
//! under different producer epochs. librdkafka's idempotent producer
//! re-sends a timed-out message under a bumped epoch (KIP-360), and a
//! broker cannot tell that from a new message; Kafka stores those too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use weir::record::batch::BatchIter;
use weir::record::records::decode_records;

use crate::common::replication::ReplicaLog;
use crate::nemesis::FaultRecord;
use crate::workload::{Ack, ConsumerLog, Read};

/// One record as a replica stores it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub offset: i64,
    pub value: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub sequence: i32,
}

pub fn stored_records(log: &ReplicaLog) -> Vec<Stored> {
    let mut out = Vec::new();
    for item in BatchIter::new(&log.bytes, true) {
        let (_, view) = item.expect("stored batches parse");
        for r in decode_records(&view).expect("stored records decode") {
            out.push(Stored {
                offset: r.offset,
                value: String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned(),
                producer_id: view.producer_id(),
                producer_epoch: view.producer_epoch(),
                sequence: view.base_sequence().wrapping_add((r.offset - view.base_offset()) as i32),
            });
        }
    }
    out
}

/// Everything a run observed.
pub struct Observed<'a> {
    pub acks: &'a [Ack],
    pub consumers: &'a [ConsumerLog],
    pub final_read: &'a [Read],
    /// Per partition: each replica's stored log (after a clean stop).
    pub replicas: &'a [Vec<ReplicaLog>],
    /// Per partition: the high watermark the final reader read up to.
    pub ends: &'a [i64],
    pub faults: &'a [FaultRecord],
    /// How long the producers ran.
    pub span: Duration,
}

/// The counters and figures of one run.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub acked: usize,
    pub lost: usize,
    pub dup_same_pes: usize,
    pub dup_values: usize,
    pub inconsistent: usize,
    pub nonmonotonic: usize,
    pub skipped: usize,
    pub divergent: usize,
    pub unseen: usize,
    /// Fraction of whole seconds with at least one acknowledgement.
    pub ack_seconds: f64,
    pub longest_gap: Duration,
    /// Per fault: time from its start until every partition had an
    /// acknowledgement at or after it (`None`: some partition never did).
    pub fault_to_ack: Vec<Option<Duration>>,
    /// Examples for the failure message.
    pub examples: Vec<String>,
}

impl Report {
    pub fn safety_violations(&self) -> usize {
        self.lost
            + self.dup_same_pes
            + self.inconsistent
            + self.nonmonotonic
            + self.skipped
            + self.divergent
            + self.unseen
    }

    fn example(&mut self, s: String) {
        if self.examples.len() < 20 {
            self.examples.push(s);
        }
    }
}

pub fn check(o: &Observed) -> Report {
    let mut r = Report { acked: o.acks.len(), ..Report::default() };

    // Final read: value -> offsets.
    let mut final_at: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
    for f in o.final_read {
        final_at.entry(f.value.as_str()).or_default().push((f.partition, f.offset));
    }
    for a in o.acks {
        if !final_at.contains_key(a.value.as_str()) {
            r.lost += 1;
            r.example(format!("lost: {} acknowledged at {}:{} ({:?})", a.value, a.partition, a.offset, a.at));
        }
    }

    // Storage: the first replica of each partition holding [0, end).
    let mut epochs_of: HashMap<String, BTreeSet<(i64, i16)>> = HashMap::new();
    for (p, logs) in o.replicas.iter().enumerate() {
        let Some(log) = logs.iter().find(|l| l.end_offset() >= o.ends[p]) else { continue };
        let mut by_pes: HashMap<(i64, i16, i32), Vec<i64>> = HashMap::new();
        for s in stored_records(log).into_iter().filter(|s| s.offset < o.ends[p]) {
            epochs_of.entry(s.value.clone()).or_default().insert((s.producer_id, s.producer_epoch));
            if s.producer_id >= 0 {
                by_pes.entry((s.producer_id, s.producer_epoch, s.sequence)).or_default().push(s.offset);
            }
        }
        for (pes, offsets) in by_pes {
            if offsets.len() > 1 {
                r.dup_same_pes += offsets.len() - 1;
                r.example(format!("partition {p}: producer {pes:?} stored at offsets {offsets:?}"));
            }
        }
    }
    for (v, at) in &final_at {
        if at.len() > 1 {
            r.dup_values += at.len() - 1;
            let epochs = epochs_of.get(*v).map(|e| e.len()).unwrap_or(0);
            if r.dup_values <= 3 {
                r.example(format!("(allowed) value {v} at {at:?} under {epochs} producer id/epoch pairs"));
            }
        }
    }

    // One offset, one value, whoever looked.
    let mut at_offset: BTreeMap<(i32, i64), BTreeSet<&str>> = BTreeMap::new();
    // librdkafka reports a message it infers was stored (a later one of
    // the same idempotent producer was acknowledged) with no offset
    // (-1001): acknowledged, but it names no offset.
    for a in o.acks.iter().filter(|a| a.offset >= 0) {
        at_offset.entry((a.partition, a.offset)).or_default().insert(&a.value);
    }
    for read in o.consumers.iter().flat_map(|c| &c.reads).chain(o.final_read) {
        at_offset.entry((read.partition, read.offset)).or_default().insert(&read.value);
    }
    let stored: Vec<Vec<Vec<Stored>>> =
        o.replicas.iter().map(|logs| logs.iter().map(stored_records).collect()).collect();
    for (p, logs) in stored.iter().enumerate() {
        for s in logs.iter().flatten().filter(|s| s.offset < o.ends[p]) {
            at_offset.entry((p as i32, s.offset)).or_default().insert(&s.value);
        }
    }
    for ((p, off), values) in &at_offset {
        if values.len() > 1 {
            r.inconsistent += 1;
            r.example(format!("inconsistent: {p}:{off} holds {values:?}"));
        }
    }

    // Per consumer: offsets only move forward, one at a time.
    for c in o.consumers {
        let mut last: HashMap<(i32, u32), i64> = HashMap::new();
        for read in &c.reads {
            let generation = if c.group { read.generation } else { 0 };
            if let Some(prev) = last.get(&(read.partition, generation)) {
                if read.offset <= *prev {
                    r.nonmonotonic += 1;
                    r.example(format!("{}: {}:{} after {prev}", c.name, read.partition, read.offset));
                } else if read.offset != prev + 1 {
                    r.skipped += 1;
                    r.example(format!("{}: skipped from {}:{prev} to {}", c.name, read.partition, read.offset));
                }
            } else if !c.group && read.offset != 0 {
                r.skipped += 1;
                r.example(format!("{}: first read of partition {} at {}", c.name, read.partition, read.offset));
            }
            last.insert((read.partition, generation), read.offset);
        }
    }

    // Replicas agree below the high watermark.
    for (p, logs) in o.replicas.iter().enumerate() {
        let below = |l: &ReplicaLog| -> Vec<_> { l.batches.iter().filter(|b| b.last < o.ends[p]).cloned().collect() };
        let Some(first) = logs.first() else { continue };
        let reference = below(first);
        let covered = reference.last().map_or(0, |b| b.last + 1);
        for l in logs {
            let mine = below(l);
            if mine != reference || covered != o.ends[p] {
                r.divergent += 1;
                let i =
                    mine.iter().zip(&reference).position(|(a, b)| a != b).unwrap_or(mine.len().min(reference.len()));
                r.example(format!(
                    "partition {p}: node {} differs from node {} below high watermark {} at batch {i}: {:?} vs {:?}",
                    l.node,
                    first.node,
                    o.ends[p],
                    mine.get(i),
                    reference.get(i)
                ));
            }
        }
    }

    // Every acknowledged value was read by some consumer during the run.
    let seen: BTreeSet<&str> = o.consumers.iter().flat_map(|c| &c.reads).map(|r| r.value.as_str()).collect();
    for a in o.acks {
        if !seen.contains(a.value.as_str()) {
            r.unseen += 1;
            if r.unseen <= 3 {
                r.example(format!("unseen: {} acknowledged at {}:{}", a.value, a.partition, a.offset));
            }
        }
    }

    // Availability.
    let mut times: Vec<Duration> = o.acks.iter().map(|a| a.at).filter(|t| *t <= o.span).collect();
    times.sort_unstable();
    let secs = o.span.as_secs().max(1);
    let with_ack: BTreeSet<u64> = times.iter().map(|t| t.as_secs()).filter(|s| *s < secs).collect();
    r.ack_seconds = with_ack.len() as f64 / secs as f64;
    let mut prev = Duration::ZERO;
    for t in times.iter().copied().chain(std::iter::once(o.span)) {
        r.longest_gap = r.longest_gap.max(t.saturating_sub(prev));
        prev = t;
    }
    // Per fault: until every partition had acknowledged a message sent
    // after the fault began (a fault stalls the partitions it touches; the
    // others keep going; answers already on their way do not count).
    let mut by_partition: Vec<Vec<&Ack>> = vec![Vec::new(); o.ends.len()];
    for a in o.acks {
        if let Some(v) = by_partition.get_mut(a.partition as usize) {
            v.push(a);
        }
    }
    r.fault_to_ack = o
        .faults
        .iter()
        .map(|f| {
            by_partition
                .iter()
                .map(|v| v.iter().filter(|a| a.sent >= f.start).map(|a| a.at.saturating_sub(f.start)).min())
                .collect::<Option<Vec<_>>>()
                .and_then(|firsts| firsts.into_iter().max())
        })
        .collect();
    r
}
