//! Round trips for the replication-facing parts of the protocol on a
//! single node: OffsetForLeaderEpoch, the diverging-epoch answer of Fetch
//! (v12+) after the leader epoch moved, and follower fetches from brokers
//! that are not replicas.

use kafka_protocol::messages::fetch_request::ReplicaState;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::*;

async fn offset_for_leader_epoch(
    c: &mut BrokerClient,
    v: i16,
    topic: &str,
    partitions: &[(i32, i32, i32)],
) -> Vec<(i32, i16, i32, i64)> {
    let mut req = OffsetForLeaderEpochRequest::default().with_topics(vec![OffsetForLeaderTopic::default()
        .with_topic(tn(topic))
        .with_partitions(
            partitions
                .iter()
                .map(|(p, current, epoch)| {
                    OffsetForLeaderPartition::default()
                        .with_partition(*p)
                        .with_current_leader_epoch(*current)
                        .with_leader_epoch(*epoch)
                })
                .collect(),
        )]);
    if v >= 3 {
        req.replica_id = BrokerId(-1);
    }
    let resp: OffsetForLeaderEpochResponse = c
        .send(ApiKey::OffsetForLeaderEpoch, v, &req)
        .await
        .unwrap_or_else(|e| panic!("OffsetForLeaderEpoch v{v}: {e}"));
    assert_eq!(resp.topics.len(), 1, "v{v}");
    assert_eq!(resp.topics[0].topic, tn(topic));
    resp.topics[0].partitions.iter().map(|p| (p.partition, p.error_code, p.leader_epoch, p.end_offset)).collect()
}

pub(crate) async fn round_trip_offset_for_leader_epoch(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let name = "rt-offset-for-leader-epoch";
    create_topic(&mut c, name, 2, &[]).await;
    for _ in 0..3 {
        produce_ok(&mut c, name, batch(&["a", "b"], now_ms())).await;
    }
    let epoch = topic_metadata(&mut c, name).await.partitions[0].leader_epoch;
    for v in versions {
        // The current epoch ends at the log end offset; an empty partition
        // ends at 0; an epoch above every known one is undefined; checks of
        // the current leader epoch as Fetch does them.
        let got = offset_for_leader_epoch(
            &mut c,
            v,
            name,
            &[
                (0, -1, epoch),
                (1, epoch, epoch),
                (0, epoch, epoch + 5),
                (0, epoch - 1, epoch),
                (0, epoch + 1, epoch),
                (9, -1, epoch),
            ],
        )
        .await;
        assert_eq!(
            got,
            vec![
                (0, NONE, epoch, 6),
                (1, NONE, epoch, 0),
                (0, NONE, -1, -1),
                (
                    0,
                    if epoch > 0 { E::FencedLeaderEpoch.code() } else { NONE },
                    if epoch > 0 { -1 } else { epoch },
                    if epoch > 0 { -1 } else { 6 }
                ),
                (0, E::UnknownLeaderEpoch.code(), -1, -1),
                (9, E::UnknownTopicOrPartition.code(), -1, -1),
            ],
            "v{v}"
        );
        let unknown = offset_for_leader_epoch(&mut c, v, "rt-ofle-no-such", &[(0, -1, 0)]).await;
        assert_eq!(unknown[0].1, E::UnknownTopicOrPartition.code(), "v{v}");
    }
}

/// A fetch whose `last_fetched_epoch` claims an epoch ran past where it
/// really ended gets that epoch's real end (the `diverging_epoch`), for
/// consumers too, and no records; OffsetForLeaderEpoch agrees.
#[tokio::test]
async fn fetch_answers_a_diverging_epoch_after_the_leader_epoch_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "rt-diverging";
    let (id, first_epoch) = {
        let mut broker = common::TestBroker::start_in(dir.path(), &[]).await;
        let mut c = connect(broker.addr()).await;
        let id = create_topic(&mut c, name, 1, &[]).await;
        produce_ok(&mut c, name, batch(&["a", "b", "c"], now_ms())).await;
        let epoch = topic_metadata(&mut c, name).await.partitions[0].leader_epoch;
        broker.stop().await;
        (id, epoch)
    };
    // The restart moves the leader epoch: the stop made the partition
    // leaderless, the start elects this broker again.
    let mut broker = common::TestBroker::start_in(dir.path(), &[]).await;
    let addr = broker.addr();
    let mut c = connect(addr).await;
    common::wait_until("a new leader epoch", Duration::from_secs(10), || async move {
        let mut c = connect(addr).await;
        let p = &topic_metadata(&mut c, name).await.partitions[0];
        p.leader_id == BrokerId(NODE_ID) && p.leader_epoch > first_epoch
    })
    .await;
    let epoch = topic_metadata(&mut c, name).await.partitions[0].leader_epoch;
    produce_ok(&mut c, name, batch(&["d", "e"], now_ms())).await;

    let got = offset_for_leader_epoch(&mut c, 4, name, &[(0, epoch, first_epoch), (0, epoch, epoch)]).await;
    assert_eq!(got, vec![(0, NONE, first_epoch, 3), (0, NONE, epoch, 5)]);

    for v in advertised(ApiKey::Fetch).filter(|v| *v >= 12) {
        // Claims: epoch `first_epoch` ran up to offset 5. It ended at 3.
        let mut req = fetch_request(v, name, id, 0, 5, 0);
        req.topics[0].partitions[0].last_fetched_epoch = first_epoch;
        req.topics[0].partitions[0].current_leader_epoch = epoch;
        let resp: FetchResponse = c.send(ApiKey::Fetch, v, &req).await.expect("fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, NONE, "v{v}");
        assert_eq!((p.diverging_epoch.epoch, p.diverging_epoch.end_offset), (first_epoch, 3), "v{v}");
        assert!(p.records.as_ref().is_none_or(|r| r.is_empty()), "v{v}: no records with a diverging epoch");
        assert_eq!(p.high_watermark, 5, "v{v}");

        // A position consistent with the log reads normally.
        let mut req = fetch_request(v, name, id, 0, 3, 0);
        req.topics[0].partitions[0].last_fetched_epoch = first_epoch;
        let resp: FetchResponse = c.send(ApiKey::Fetch, v, &req).await.expect("fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!((p.error_code, p.diverging_epoch.epoch, p.diverging_epoch.end_offset), (NONE, -1, -1), "v{v}");
        let values: Vec<String> = fetched_records(p).iter().map(value_of).collect();
        assert_eq!(values, vec!["d", "e"], "v{v}");
    }
    broker.stop().await;
}

/// Fetches from a replica id that is not a replica of the partition are
/// refused, whether the id comes as `replica_id` (before v15) or in
/// `ReplicaState` (v15+).
#[tokio::test]
async fn follower_fetch_from_a_non_replica_is_refused() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let name = "rt-non-replica-fetch";
    let id = create_topic(&mut c, name, 1, &[]).await;
    produce_ok(&mut c, name, batch(&["a"], now_ms())).await;
    for v in advertised(ApiKey::Fetch) {
        let mut req = fetch_request(v, name, id, 0, 0, 0);
        if v >= 15 {
            req.replica_state = ReplicaState::default().with_replica_id(BrokerId(7)).with_replica_epoch(3);
        } else {
            req.replica_id = BrokerId(7);
        }
        let resp: FetchResponse = c.send(ApiKey::Fetch, v, &req).await.expect("fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, E::NotLeaderOrFollower.code(), "v{v}");
        assert!(p.records.as_ref().is_none_or(|r| r.is_empty()), "v{v}");
    }
    env.stop().await;
}
