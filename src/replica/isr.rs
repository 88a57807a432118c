//! The leader's view of its followers (Kafka's `Replica` / `ReplicaState`)
//! and the in-sync replica rules built on it: when a follower counts as
//! caught up, when it may join the ISR, which members fall out of it, and
//! the "maximal" ISR the high watermark is computed over while an
//! AlterPartition is in flight.
//!
//! Invariant: a follower only joins the ISR once its log end offset has
//! reached both the high watermark and the start of the current leader
//! epoch, so every ISR member holds every record below the high watermark.

use std::collections::HashMap;

/// What the leader knows of one follower from its fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReplica {
    /// The follower's log end offset: the offset it last fetched from
    /// (-1 until its first fetch under this leader).
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    /// The broker epoch the follower fetched with (-1 if it sent none).
    pub broker_epoch: i64,
    /// When the follower was last known to be caught up with the leader's
    /// log end offset (Kafka's `lastCaughtUpTimeMs`).
    pub last_caught_up_ms: i64,
    last_fetch_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    last_fetch_leader_leo: i64,
}

impl RemoteReplica {
    /// State of a follower when this broker starts leading: nothing known
    /// of its log; ISR members get a full lag window before they can be
    /// removed, as Kafka does.
    pub fn new(in_isr: bool, now_ms: i64) -> Self {
        RemoteReplica {
            log_end_offset: -1,
            log_start_offset: -1,
            broker_epoch: -1,
            last_caught_up_ms: if in_isr { now_ms } else { 0 },
            last_fetch_ms: 0,
            last_fetch_leader_leo: -1,
        }
    }

    /// Records a fetch at `fetch_offset` while the leader's log ended at
    /// `leader_leo`. A follower is caught up at this fetch if it asked for
    /// the leader's end; if it asked for at least what the leader had at its
    /// previous fetch, it was caught up as of that previous fetch.
    pub fn on_fetch(
        &mut self,
        fetch_offset: i64,
        log_start_offset: i64,
        broker_epoch: i64,
        now_ms: i64,
        leader_leo: i64,
    ) {
        if fetch_offset >= leader_leo {
            self.last_caught_up_ms = self.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= self.last_fetch_leader_leo {
            self.last_caught_up_ms = self.last_caught_up_ms.max(self.last_fetch_ms);
        }
        self.log_end_offset = fetch_offset;
        self.log_start_offset = log_start_offset;
        self.broker_epoch = broker_epoch;
        self.last_fetch_leader_leo = leader_leo;
        self.last_fetch_ms = now_ms;
    }

    /// Kafka's `isCaughtUp`: at the leader's end, or caught up within the
    /// last `lag_max_ms`.
    pub fn is_caught_up(&self, leader_leo: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        self.log_end_offset == leader_leo || now_ms - self.last_caught_up_ms <= lag_max_ms
    }
}

/// An ISR change this leader asked the controller for and has no answer
/// to yet. At most one is in flight per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingIsr {
    pub new_isr: Vec<i32>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// The ISR the high watermark must respect: while an expansion is in
/// flight the new member already counts (it has every record below the
/// high watermark); while a shrink is in flight the leaving member still
/// does (the controller has not agreed yet).
pub fn maximal_isr(isr: &[i32], pending: Option<&PendingIsr>) -> Vec<i32> {
    let mut out = isr.to_vec();
    if let Some(p) = pending {
        for r in &p.new_isr {
            if !out.contains(r) {
                out.push(*r);
            }
        }
    }
    out
}

/// The high watermark the ISR allows: the smallest log end offset among
/// `members` (the leader's own is `leader_leo`); `None` while a member's
/// position is unknown.
pub fn isr_high_watermark(
    node_id: i32,
    members: &[i32],
    leader_leo: i64,
    remotes: &HashMap<i32, RemoteReplica>,
) -> Option<i64> {
    let mut hw = leader_leo;
    for r in members {
        if *r == node_id {
            continue;
        }
        let leo = remotes.get(r).map_or(-1, |s| s.log_end_offset);
        if leo < 0 {
            return None;
        }
        hw = hw.min(leo);
    }
    Some(hw)
}

/// Followers of `isr` that are no longer caught up.
pub fn out_of_sync(
    node_id: i32,
    isr: &[i32],
    leader_leo: i64,
    remotes: &HashMap<i32, RemoteReplica>,
    now_ms: i64,
    lag_max_ms: i64,
) -> Vec<i32> {
    isr.iter()
        .copied()
        .filter(|r| *r != node_id)
        .filter(|r| remotes.get(r).is_none_or(|s| !s.is_caught_up(leader_leo, now_ms, lag_max_ms)))
        .collect()
}

/// Whether a follower outside the ISR may join it: its log reaches the
/// high watermark and the start of the current leader epoch.
pub fn may_join_isr(follower_leo: i64, high_watermark: i64, epoch_start_offset: Option<i64>) -> bool {
    follower_leo >= high_watermark && epoch_start_offset.is_some_and(|start| follower_leo >= start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_follows_kafkas_rules() {
        let mut r = RemoteReplica::new(true, 1_000);
        assert!(r.is_caught_up(50, 1_500, 1_000), "fresh ISR member gets a lag window");
        assert!(!r.is_caught_up(50, 2_001, 1_000));
        // Fetching the leader's end: caught up now.
        r.on_fetch(50, 0, 7, 3_000, 50);
        assert!(r.is_caught_up(60, 3_900, 1_000));
        // Behind the current end but at the end the leader had at the
        // previous fetch: caught up as of that fetch (3_000).
        r.on_fetch(50, 0, 7, 4_500, 60);
        assert_eq!(r.last_caught_up_ms, 3_000);
        assert!(!r.is_caught_up(60, 4_500, 1_000));
        r.on_fetch(60, 0, 7, 4_600, 80);
        assert_eq!(r.last_caught_up_ms, 4_500);
        // Exactly at the leader's end counts regardless of time.
        assert!(r.is_caught_up(60, 99_999, 1_000));
    }

    #[test]
    fn high_watermark_is_the_slowest_isr_member() {
        let mut remotes = HashMap::new();
        remotes.insert(2, RemoteReplica::new(true, 0));
        remotes.insert(3, RemoteReplica::new(true, 0));
        assert_eq!(isr_high_watermark(1, &[1, 2, 3], 100, &remotes), None, "unknown follower position");
        remotes.get_mut(&2).unwrap().on_fetch(90, 0, 1, 10, 100);
        remotes.get_mut(&3).unwrap().on_fetch(70, 0, 1, 10, 100);
        assert_eq!(isr_high_watermark(1, &[1, 2, 3], 100, &remotes), Some(70));
        assert_eq!(isr_high_watermark(1, &[1, 2], 100, &remotes), Some(90));
        assert_eq!(isr_high_watermark(1, &[1], 100, &remotes), Some(100));
        assert_eq!(out_of_sync(1, &[1, 2, 3], 100, &remotes, 100_000, 30_000), vec![2, 3]);
        remotes.get_mut(&2).unwrap().on_fetch(100, 0, 1, 100_000, 100);
        assert_eq!(out_of_sync(1, &[1, 2, 3], 100, &remotes, 100_000, 30_000), vec![3]);
    }

    #[test]
    fn joining_needs_the_high_watermark_and_the_epoch_start() {
        assert!(may_join_isr(10, 10, Some(5)));
        assert!(!may_join_isr(9, 10, Some(5)));
        assert!(!may_join_isr(10, 10, Some(11)));
        assert!(!may_join_isr(10, 10, None));
        let pending = PendingIsr { new_isr: vec![1, 2, 3], leader_epoch: 1, partition_epoch: 4 };
        assert_eq!(maximal_isr(&[1, 2], Some(&pending)), vec![1, 2, 3]);
        let shrink = PendingIsr { new_isr: vec![1], leader_epoch: 1, partition_epoch: 4 };
        assert_eq!(maximal_isr(&[1, 2], Some(&shrink)), vec![1, 2]);
    }
}
