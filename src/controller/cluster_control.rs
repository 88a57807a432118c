//! Broker membership (Kafka's `ClusterControlManager`): registration with
//! an incarnation id, heartbeats and sessions, fencing and unfencing, and
//! controlled shutdown. Sessions are the active controller's memory only:
//! a newly elected controller gives every broker a fresh session.
//!
//! A broker that comes back as a new incarnation says which broker epoch
//! it stopped cleanly at (`previous_broker_epoch`, from its clean-shutdown
//! marker). When that is not the epoch it was registered with, its stop
//! was unclean: with ELR on it leaves every ISR and ELR (Kafka's
//! `handleBrokerShutdown`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::controller_client::rpc::BrokerRegistration;
use crate::controller_client::ControllerError;
use crate::metadata::{MetadataImage, MetadataRecord};

use super::replication_control::{self, leader_and_isr_updates, unclean_shutdown_updates, ElectionPolicy};

/// Last heartbeat per broker, as seen by this (active) controller.
#[derive(Debug, Default)]
pub struct Sessions {
    last: HashMap<i32, Instant>,
    timeout: Duration,
}

impl Sessions {
    pub fn new(timeout: Duration) -> Self {
        Sessions { last: HashMap::new(), timeout }
    }

    pub fn touch(&mut self, broker: i32, now: Instant) {
        self.last.insert(broker, now);
    }

    pub fn is_valid(&self, broker: i32, now: Instant) -> bool {
        self.last.get(&broker).is_some_and(|t| now.duration_since(*t) < self.timeout)
    }

    /// A new active controller: every registered broker starts a session.
    pub fn reset(&mut self, image: &MetadataImage, now: Instant) {
        self.last.clear();
        for id in image.brokers.keys() {
            self.last.insert(*id, now);
        }
    }

    /// Unfenced brokers whose session expired.
    pub fn expired(&self, image: &MetadataImage, now: Instant) -> Vec<i32> {
        image.brokers.values().filter(|b| !b.fenced && !self.is_valid(b.id, now)).map(|b| b.id).collect()
    }

    /// When the first session of an unfenced broker expires (Kafka's
    /// `BrokerHeartbeatManager.nextCheckTimeNs`), if any: the controller
    /// checks then rather than on a coarse tick, so a dead broker is fenced
    /// as soon as its session allows. A broker without a session (never
    /// touched by this controller) is due at once.
    pub fn next_expiry(&self, image: &MetadataImage) -> Option<Instant> {
        image.brokers.values().filter(|b| !b.fenced).map(|b| self.last.get(&b.id).map(|t| *t + self.timeout)).min()?
    }
}

/// The records registering `reg`, or DUPLICATE_BROKER_REGISTRATION while
/// another incarnation of the same id holds a live session.
pub fn plan_register(
    image: &MetadataImage,
    sessions: &Sessions,
    reg: &BrokerRegistration,
    now: Instant,
    policy: &ElectionPolicy,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let mut records = Vec::new();
    if let Some(existing) = image.brokers.get(&reg.broker_id) {
        let new_incarnation = existing.incarnation_id != reg.incarnation_id;
        if new_incarnation && sessions.is_valid(reg.broker_id, now) && !existing.fenced {
            return Err(ControllerError::DuplicateBrokerRegistration);
        }
        let clean = reg.previous_broker_epoch == Some(existing.epoch);
        if new_incarnation && !clean && policy.elr {
            // Its log may have lost what it acknowledged: it may no longer
            // lead on the strength of having been in the ISR or ELR.
            tracing::info!(broker = reg.broker_id, epoch = existing.epoch, previous = ?reg.previous_broker_epoch, "broker restarted after an unclean shutdown");
            records.extend(unclean_shutdown_updates(image, reg.broker_id, policy));
        } else if !existing.fenced {
            // A restarted incarnation: its old leaderships move first.
            records.extend(fence(image, reg.broker_id, policy));
        }
    }
    records.push(MetadataRecord::RegisterBroker {
        broker_id: reg.broker_id,
        incarnation_id: reg.incarnation_id,
        listeners: reg.listeners.clone(),
        rack: reg.rack.clone(),
        fenced: true,
        broker_epoch: None,
        // A new registration starts with the directories it has now: a
        // restart brings failed ones back.
        offline_replicas: reg.offline_replicas.clone(),
    });
    Ok(records)
}

/// Fences `broker` and moves its leaderships (ISR shrink, elections).
pub fn fence(image: &MetadataImage, broker: i32, policy: &ElectionPolicy) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let mut records = leader_and_isr_updates(image, Some(broker), None, policy);
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: Some(true),
        in_controlled_shutdown: Some(false),
        offline_replicas: None,
    });
    records
}

/// Unfences `broker` and lets it lead partitions left without a leader.
pub fn unfence(image: &MetadataImage, broker: i32, policy: &ElectionPolicy) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let mut records = vec![MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: Some(false),
        in_controlled_shutdown: None,
        offline_replicas: None,
    }];
    records.extend(leader_and_isr_updates(image, None, Some(broker), policy));
    records
}

/// Controlled shutdown: leaderships move away, the broker leaves ISRs.
pub fn begin_controlled_shutdown(image: &MetadataImage, broker: i32, policy: &ElectionPolicy) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let mut records = vec![MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: None,
        in_controlled_shutdown: Some(true),
        offline_replicas: None,
    }];
    records.extend(leader_and_isr_updates(image, Some(broker), None, policy));
    records
}

/// Kafka's `handleDirectoriesOffline`: `broker` reports replicas in failed
/// log directories. Those it had not reported before leave their ISR (and
/// leadership moves to another acceptable replica) and are recorded in its
/// registration, which keeps them from leading or rejoining an ISR until
/// the broker registers again. Replicas of partitions that no longer exist
/// are ignored.
pub fn offline_replicas_updates(
    image: &MetadataImage,
    broker: i32,
    reported: &[(Uuid, i32)],
    policy: &ElectionPolicy,
) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let newly: Vec<(Uuid, i32)> = reported
        .iter()
        .copied()
        .filter(|(t, p)| {
            !b.offline_replicas.contains(&(*t, *p))
                && image.topic_by_id(t).and_then(|t| t.partitions.get(p)).is_some_and(|r| r.replicas.contains(&broker))
        })
        .collect();
    if newly.is_empty() {
        return Vec::new();
    }
    let mut records = replication_control::dir_failure_updates(image, broker, &newly, policy);
    let mut all = b.offline_replicas.clone();
    all.extend(newly.iter().copied());
    tracing::warn!(
        broker,
        replicas = newly.len(),
        "replicas on a failed log directory: moving their leadership and ISR membership"
    );
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: None,
        in_controlled_shutdown: None,
        offline_replicas: Some(all.into_iter().collect()),
    });
    records
}

/// Partitions `broker` still leads.
pub fn leaderships(image: &MetadataImage, broker: i32) -> usize {
    image.topics.values().flat_map(|t| t.partitions.values()).filter(|p| p.leader == broker).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Endpoint;
    use uuid::Uuid;

    fn image_with(brokers: &[i32], partitions: &[(Vec<i32>, Vec<i32>, i32)]) -> (MetadataImage, Uuid) {
        let mut img = MetadataImage::empty();
        let mut off = 0;
        for b in brokers {
            img.apply(
                off,
                &MetadataRecord::RegisterBroker {
                    broker_id: *b,
                    incarnation_id: Uuid::new_v4(),
                    listeners: vec![Endpoint { name: "PLAINTEXT".into(), host: "h".into(), port: 1 }],
                    rack: None,
                    fenced: false,
                    broker_epoch: None,
                    offline_replicas: vec![],
                },
            );
            off += 1;
        }
        let id = Uuid::new_v4();
        img.apply(off, &MetadataRecord::Topic { name: "t".into(), topic_id: id });
        for (i, (replicas, isr, leader)) in partitions.iter().enumerate() {
            img.apply(
                off,
                &MetadataRecord::Partition {
                    topic_id: id,
                    partition_id: i as i32,
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    elr: vec![],
                    last_known_elr: vec![],
                },
            );
        }
        (img, id)
    }

    /// Elections as before ELR: the tests written for them keep their meaning.
    const NO_ELR: ElectionPolicy = ElectionPolicy { unclean_default: false, min_isr_default: 1, elr: false };

    fn apply(img: &mut MetadataImage, records: &[MetadataRecord]) {
        let off = img.offset + 1;
        for r in records {
            img.apply(off, r);
        }
    }

    #[test]
    fn fencing_moves_leadership_within_the_isr() {
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1), (vec![2, 3, 1], vec![2, 3], 2)]);
        let recs = fence(&img, 1, &NO_ELR);
        apply(&mut img, &recs);
        let t = img.topic_by_name("t").unwrap();
        let p0 = &t.partitions[&0];
        assert_eq!(p0.leader, 2);
        assert_eq!(p0.isr, vec![2, 3]);
        assert_eq!(p0.leader_epoch, 1);
        // Partition 1 did not have 1 in its ISR: untouched.
        assert_eq!(t.partitions[&1].leader_epoch, 0);
        assert!(img.brokers[&1].fenced);
    }

    #[test]
    fn last_isr_member_fenced_leaves_the_partition_offline_until_it_returns() {
        let (mut img, _) = image_with(&[1, 2], &[(vec![1, 2], vec![1], 1)]);
        let recs = fence(&img, 1, &NO_ELR);
        apply(&mut img, &recs);
        let p = img.topic_by_name("t").unwrap().partitions[&0].clone();
        assert_eq!(p.leader, -1);
        assert_eq!(p.isr, vec![1], "the last ISR member stays recorded");
        let recs = unfence(&img, 1, &NO_ELR);
        apply(&mut img, &recs);
        let p = img.topic_by_name("t").unwrap().partitions[&0].clone();
        assert_eq!(p.leader, 1);
        assert_eq!(p.leader_epoch, 2);
    }

    #[test]
    fn unclean_election_only_when_enabled() {
        let (mut img, _) = image_with(&[1, 2], &[(vec![1, 2], vec![1], 1)]);
        img.apply(
            10,
            &MetadataRecord::Config {
                resource_type: crate::metadata::ConfigResourceType::Topic,
                resource_name: "t".into(),
                name: "unclean.leader.election.enable".into(),
                value: Some("true".into()),
            },
        );
        let recs = fence(&img, 1, &NO_ELR);
        apply(&mut img, &recs);
        let p = img.topic_by_name("t").unwrap().partitions[&0].clone();
        assert_eq!(p.leader, 2);
        assert_eq!(p.isr, vec![2]);
    }

    #[test]
    fn duplicate_registration_needs_a_live_session() {
        let (img, _) = image_with(&[1], &[]);
        let mut sessions = Sessions::new(Duration::from_secs(9));
        let now = Instant::now();
        sessions.touch(1, now);
        let reg = BrokerRegistration {
            broker_id: 1,
            incarnation_id: Uuid::new_v4(),
            listeners: vec![],
            rack: None,
            cluster_id: None,
            previous_broker_epoch: None,
            offline_replicas: vec![],
        };
        assert!(matches!(
            plan_register(&img, &sessions, &reg, now, &NO_ELR),
            Err(ControllerError::DuplicateBrokerRegistration)
        ));
        let later = now + Duration::from_secs(10);
        assert!(plan_register(&img, &sessions, &reg, later, &NO_ELR).is_ok());
    }

    // ---- Eligible Leader Replicas (KIP-966) ----
    //
    // The expected states are what Kafka's PartitionChangeBuilder and
    // ReplicationControlManager produce for the same events (min ISR 2,
    // replicas [1, 2, 3]).

    const ELR: ElectionPolicy = ElectionPolicy { unclean_default: false, min_isr_default: 2, elr: true };

    /// (leader, ISR, ELR, last-known ELR) of partition 0.
    fn state(img: &MetadataImage) -> (i32, Vec<i32>, Vec<i32>, Vec<i32>) {
        let p = &img.topic_by_name("t").unwrap().partitions[&0];
        (p.leader, p.isr.clone(), p.elr.clone(), p.last_known_elr.clone())
    }

    fn fence_in(img: &mut MetadataImage, broker: i32, policy: &ElectionPolicy) {
        let recs = fence(img, broker, policy);
        apply(img, &recs);
    }

    /// A restart of `broker` as a new incarnation that stopped cleanly at
    /// its current epoch (`clean`) or crashed, then its unfencing.
    fn restart(img: &mut MetadataImage, broker: i32, clean: bool, policy: &ElectionPolicy) {
        let reg = BrokerRegistration {
            broker_id: broker,
            incarnation_id: Uuid::new_v4(),
            listeners: vec![Endpoint { name: "PLAINTEXT".into(), host: "h".into(), port: 1 }],
            rack: None,
            cluster_id: None,
            previous_broker_epoch: clean.then(|| img.brokers[&broker].epoch),
            offline_replicas: vec![],
        };
        let later = Instant::now() + Duration::from_secs(60);
        let recs = plan_register(img, &Sessions::new(Duration::from_secs(1)), &reg, later, policy).unwrap();
        apply(img, &recs);
        let recs = unfence(img, broker, policy);
        apply(img, &recs);
    }

    /// The "last replica standing" sequence: the ISR members crash one by
    /// one, the leader last, and come back in the worst order (the stale
    /// replica first). Nobody but the last leader may lead again, and it
    /// does once it is back, with no unclean election enabled.
    #[test]
    fn last_replica_standing_comes_back_only_through_the_last_leader() {
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1)]);
        fence_in(&mut img, 3, &ELR);
        assert_eq!(state(&img), (1, vec![1, 2], vec![], vec![]), "the ISR is still at min ISR: no ELR");
        fence_in(&mut img, 2, &ELR);
        assert_eq!(state(&img), (1, vec![1], vec![2], vec![]), "2 left an ISR below min ISR: eligible");
        fence_in(&mut img, 1, &ELR);
        assert_eq!(state(&img), (-1, vec![], vec![1, 2], vec![1]), "no leader; 1 led last");
        // The stale replica returns first: it is in neither ISR nor ELR.
        restart(&mut img, 3, false, &ELR);
        assert_eq!(state(&img), (-1, vec![], vec![1, 2], vec![1]));
        // 2 crashed: it may have lost what it had, so it leaves the ELR.
        restart(&mut img, 2, false, &ELR);
        assert_eq!(state(&img), (-1, vec![], vec![1], vec![1]));
        // 1 crashed too; it leaves the ELR but is the last known leader,
        // which Kafka elects once it is unfenced.
        restart(&mut img, 1, false, &ELR);
        assert_eq!(state(&img), (1, vec![1], vec![], vec![]));
    }

    /// The same crashes without ELR: the last ISR member stays in the ISR
    /// and leads again (Weir's and Kafka's behaviour before KIP-966).
    #[test]
    fn without_elr_the_last_isr_member_is_kept_and_leads_again() {
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1)]);
        for b in [3, 2, 1] {
            fence_in(&mut img, b, &NO_ELR);
        }
        assert_eq!(state(&img), (-1, vec![1], vec![], vec![]));
        restart(&mut img, 3, false, &NO_ELR);
        restart(&mut img, 2, false, &NO_ELR);
        assert_eq!(state(&img).0, -1);
        restart(&mut img, 1, false, &NO_ELR);
        assert_eq!(state(&img), (1, vec![1], vec![], vec![]));
    }

    /// An ELR member whose stop was clean keeps its eligibility and leads
    /// when it returns before the last leader does.
    #[test]
    fn a_cleanly_restarted_elr_member_is_elected() {
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1)]);
        for b in [3, 2, 1] {
            fence_in(&mut img, b, &ELR);
        }
        restart(&mut img, 2, true, &ELR);
        assert_eq!(state(&img), (2, vec![2], vec![1], vec![]), "elected from the ELR, which keeps 1");
        assert_eq!(img.topic_by_name("t").unwrap().partitions[&0].leader_epoch, 2);
    }

    /// While the ISR is not empty only its members may lead, even with
    /// live ELR members; once it empties, a live ELR member leads.
    #[test]
    fn the_elr_is_used_only_when_the_isr_is_empty() {
        let (mut img, id) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1)]);
        // The leader drops both (lagging, not dead) followers.
        let shrink = crate::controller_client::ops::IsrChange {
            topic_id: id,
            partition: 0,
            leader_epoch: 0,
            partition_epoch: 0,
            new_isr: vec![1],
        };
        let epoch = img.brokers[&1].epoch;
        let (recs, results) =
            super::super::replication_control::plan_alter_partition(&img, 1, epoch, &[shrink], &ELR).unwrap();
        assert!(results[0].is_ok());
        apply(&mut img, &recs);
        assert_eq!(state(&img), (1, vec![1], vec![2, 3], vec![]));
        // The leader dies: 2 and 3 are alive and eligible; replica order picks 2.
        fence_in(&mut img, 1, &ELR);
        assert_eq!(state(&img), (2, vec![2], vec![1, 3], vec![]));
    }

    /// An ISR growing back to min ISR clears the ELR.
    #[test]
    fn isr_back_at_min_isr_clears_the_elr() {
        let (mut img, id) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1)]);
        fence_in(&mut img, 3, &ELR);
        fence_in(&mut img, 2, &ELR);
        assert_eq!(state(&img), (1, vec![1], vec![2], vec![]));
        restart(&mut img, 2, true, &ELR);
        let p = img.topic_by_name("t").unwrap().partitions[&0].clone();
        let grow = crate::controller_client::ops::IsrChange {
            topic_id: id,
            partition: 0,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: vec![1, 2],
        };
        let epoch = img.brokers[&1].epoch;
        let (recs, _) = super::super::replication_control::plan_alter_partition(&img, 1, epoch, &[grow], &ELR).unwrap();
        apply(&mut img, &recs);
        assert_eq!(state(&img), (1, vec![1, 2], vec![], vec![]));
    }

    /// A replica that crashes and registers again before it was fenced
    /// leaves the ISR without entering the ELR.
    #[test]
    fn an_unclean_restart_does_not_enter_the_elr() {
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2], 1)]);
        restart(&mut img, 2, false, &ELR);
        assert_eq!(state(&img), (1, vec![1], vec![], vec![]));
        // The same restart after a clean stop is an ordinary fencing: 2
        // leaves an ISR below min ISR and is eligible.
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2], 1)]);
        restart(&mut img, 2, true, &ELR);
        assert_eq!(state(&img), (1, vec![1], vec![2], vec![]));
    }

    /// An unclean election, where allowed, comes after the ELR and the last
    /// known leader, and wipes the ELR state.
    #[test]
    fn unclean_election_is_the_last_resort_and_clears_the_elr() {
        let policy = ElectionPolicy { unclean_default: true, ..ELR };
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1)]);
        fence_in(&mut img, 2, &policy);
        fence_in(&mut img, 1, &policy);
        // 2 left while the ISR was still at min ISR: only 1 is eligible.
        assert_eq!(state(&img), (3, vec![3], vec![1], vec![]));
        fence_in(&mut img, 3, &policy);
        assert_eq!(state(&img), (-1, vec![], vec![1, 3], vec![3]));
        // 2 comes back after a crash: not eligible, but unclean elections
        // are allowed, so it leads with an ISR of itself and no ELR.
        restart(&mut img, 2, false, &policy);
        assert_eq!(state(&img), (2, vec![2], vec![], vec![]));
    }

    #[test]
    fn a_failed_log_dir_moves_leadership_and_keeps_the_replica_out_until_it_registers_again() {
        use crate::controller::replication_control::{plan_alter_partition, ElectionPolicy as P};
        use crate::controller_client::ops::IsrChange;
        let elr = P { unclean_default: false, min_isr_default: 2, elr: true };
        let (mut img, id) =
            image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1), (vec![2, 3, 1], vec![2, 3, 1], 2)]);
        // Broker 1's directory holding partition 0 fails; partition 1 is
        // in another directory and stays as it is.
        let recs = offline_replicas_updates(&img, 1, &[(id, 0)], &elr);
        apply(&mut img, &recs);
        let (leader, isr, _, _) = state(&img);
        assert_eq!((leader, isr), (2, vec![2, 3]));
        assert_eq!(img.topic_by_name("t").unwrap().partitions[&1].isr, vec![2, 3, 1]);
        assert!(img.replica_offline(id, 0, 1) && !img.replica_offline(id, 1, 1));
        assert!(!img.brokers[&1].fenced, "the broker itself stays unfenced");
        // Reported again: nothing new.
        assert!(offline_replicas_updates(&img, 1, &[(id, 0)], &elr).is_empty());
        // Unknown partitions are ignored.
        assert!(offline_replicas_updates(&img, 1, &[(Uuid::new_v4(), 0), (id, 7)], &elr).is_empty());
        // The offline replica may not rejoin the ISR...
        let p = img.topic_by_name("t").unwrap().partitions[&0].clone();
        let change = IsrChange {
            topic_id: id,
            partition: 0,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: vec![2, 3, 1],
        };
        let (records, results) = plan_alter_partition(&img, 2, img.brokers[&2].epoch, &[change], &elr).unwrap();
        assert!(records.is_empty() && results[0].is_err());
        // ...nor lead when the others are gone.
        fence_in(&mut img, 2, &elr);
        fence_in(&mut img, 3, &elr);
        assert_eq!(state(&img).0, -1, "no acceptable leader: the partition is offline");
        // A restart with the directory healthy registers without offline
        // replicas; broker 1 left the ISR while it still had enough members,
        // so it may lack committed records and does not lead. An eligible
        // replica does once it is back.
        restart(&mut img, 1, true, &elr);
        assert!(!img.replica_offline(id, 0, 1));
        assert_eq!(state(&img).0, -1);
        restart(&mut img, 2, true, &elr);
        assert_eq!(state(&img).0, 2);
    }

    #[test]
    fn the_next_expiry_is_the_oldest_unfenced_session() {
        let (mut img, _) = image_with(&[1, 2, 3], &[]);
        let mut sessions = Sessions::new(Duration::from_secs(3));
        assert_eq!(sessions.next_expiry(&MetadataImage::empty()), None, "no broker, nothing to check");
        let now = Instant::now();
        sessions.touch(1, now + Duration::from_secs(2));
        sessions.touch(2, now + Duration::from_secs(1));
        sessions.touch(3, now);
        assert_eq!(sessions.next_expiry(&img), Some(now + Duration::from_secs(3)));
        // A fenced broker's session no longer matters.
        let recs = fence(&img, 3, &NO_ELR);
        apply(&mut img, &recs);
        assert_eq!(sessions.next_expiry(&img), Some(now + Duration::from_secs(4)));
        assert_eq!(sessions.expired(&img, now + Duration::from_secs(4)), vec![2]);
    }
}
