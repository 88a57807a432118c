//! Broker membership (Kafka's `ClusterControlManager`): registration with
//! an incarnation id, heartbeats and sessions, fencing and unfencing, and
//! controlled shutdown. Sessions are the active controller's memory only:
//! a newly elected controller gives every broker a fresh session.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::controller_client::rpc::BrokerRegistration;
use crate::controller_client::ControllerError;
use crate::metadata::{MetadataImage, MetadataRecord};

use super::replication_control::leader_and_isr_updates;

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
    unclean_default: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let mut records = Vec::new();
    if let Some(existing) = image.brokers.get(&reg.broker_id) {
        if existing.incarnation_id != reg.incarnation_id && sessions.is_valid(reg.broker_id, now) && !existing.fenced {
            return Err(ControllerError::DuplicateBrokerRegistration);
        }
        if !existing.fenced {
            // A restarted incarnation: its old leaderships move first.
            records.extend(fence(image, reg.broker_id, unclean_default));
        }
    }
    records.push(MetadataRecord::RegisterBroker {
        broker_id: reg.broker_id,
        incarnation_id: reg.incarnation_id,
        listeners: reg.listeners.clone(),
        rack: reg.rack.clone(),
        fenced: true,
        broker_epoch: None,
    });
    Ok(records)
}

/// Fences `broker` and moves its leaderships (ISR shrink, elections).
pub fn fence(image: &MetadataImage, broker: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let mut records = leader_and_isr_updates(image, Some(broker), None, unclean_default);
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: Some(true),
        in_controlled_shutdown: Some(false),
    });
    records
}

/// Unfences `broker` and lets it lead partitions left without a leader.
pub fn unfence(image: &MetadataImage, broker: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let mut records = vec![MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: Some(false),
        in_controlled_shutdown: None,
    }];
    records.extend(leader_and_isr_updates(image, None, Some(broker), unclean_default));
    records
}

/// Controlled shutdown: leaderships move away, the broker leaves ISRs.
pub fn begin_controlled_shutdown(image: &MetadataImage, broker: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&broker) else { return Vec::new() };
    let mut records = vec![MetadataRecord::BrokerRegistrationChange {
        broker_id: broker,
        broker_epoch: b.epoch,
        fenced: None,
        in_controlled_shutdown: Some(true),
    }];
    records.extend(leader_and_isr_updates(image, Some(broker), None, unclean_default));
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
                },
            );
        }
        (img, id)
    }

    fn apply(img: &mut MetadataImage, records: &[MetadataRecord]) {
        let off = img.offset + 1;
        for r in records {
            img.apply(off, r);
        }
    }

    #[test]
    fn fencing_moves_leadership_within_the_isr() {
        let (mut img, _) = image_with(&[1, 2, 3], &[(vec![1, 2, 3], vec![1, 2, 3], 1), (vec![2, 3, 1], vec![2, 3], 2)]);
        let recs = fence(&img, 1, false);
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
        let recs = fence(&img, 1, false);
        apply(&mut img, &recs);
        let p = img.topic_by_name("t").unwrap().partitions[&0].clone();
        assert_eq!(p.leader, -1);
        assert_eq!(p.isr, vec![1], "the last ISR member stays recorded");
        let recs = unfence(&img, 1, false);
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
        let recs = fence(&img, 1, false);
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
        };
        assert!(matches!(
            plan_register(&img, &sessions, &reg, now, false),
            Err(ControllerError::DuplicateBrokerRegistration)
        ));
        let later = now + Duration::from_secs(10);
        assert!(plan_register(&img, &sessions, &reg, later, false).is_ok());
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
        let recs = fence(&img, 3, false);
        apply(&mut img, &recs);
        assert_eq!(sessions.next_expiry(&img), Some(now + Duration::from_secs(4)));
        assert_eq!(sessions.expired(&img, now + Duration::from_secs(4)), vec![2]);
    }
}
