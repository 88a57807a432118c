//! Round trips: Metadata: brokers and topics at every version, auto-creation (allowed or forbidden), invalid topic names.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------

pub(crate) fn assert_single_broker(resp: &MetadataResponse, addr: SocketAddr, v: i16) {
    assert_eq!(resp.brokers.len(), 1, "Metadata v{v}: exactly one broker");
    let b = &resp.brokers[0];
    assert_eq!(b.node_id.0, NODE_ID, "v{v}: broker id");
    assert_eq!(b.host.as_str(), addr.ip().to_string(), "v{v}: broker host");
    assert_eq!(b.port, addr.port() as i32, "v{v}: broker port");
}

pub(crate) fn assert_topic(t: &MetadataResponseTopic, name: &str, partitions: i32, v: i16) {
    assert_eq!(t.error_code, NONE, "Metadata v{v}: {name}");
    assert_eq!(t.name.as_ref().map(|n| n.0.as_str()), Some(name), "v{v}");
    assert!(!t.is_internal);
    let mut indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    indexes.sort();
    assert_eq!(indexes, (0..partitions).collect::<Vec<_>>(), "v{v}: partitions of {name}");
    for p in &t.partitions {
        assert_eq!(p.error_code, NONE, "v{v}: partition {}", p.partition_index);
        assert_eq!(p.leader_id.0, NODE_ID, "v{v}: leader");
        assert_eq!(p.replica_nodes, vec![BrokerId(NODE_ID)], "v{v}: replicas");
        assert_eq!(p.isr_nodes, vec![BrokerId(NODE_ID)], "v{v}: isr");
        if v >= 5 {
            assert!(p.offline_replicas.is_empty(), "v{v}: offline replicas");
        }
        if v >= 7 {
            assert!(p.leader_epoch >= 0, "v{v}: leader epoch");
        }
    }
}

pub(crate) async fn round_trip_metadata(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let name = "rt-metadata";
    let id = create_topic(&mut c, name, 2, &[]).await;
    let mut cluster_ids = HashSet::new();
    for v in versions {
        // By name.
        let req = metadata_request(v, Some(vec![by_name(name)]), false);
        let resp = metadata(&mut c, v, &req).await;
        assert_single_broker(&resp, addr, v);
        if v >= 1 {
            assert_eq!(resp.controller_id.0, NODE_ID, "v{v}: controller is the live broker");
        }
        if v >= 2 {
            let cid = resp.cluster_id.clone().expect("cluster id");
            assert!(!cid.is_empty(), "v{v}: cluster id is empty");
            cluster_ids.insert(cid.to_string());
        }
        if v >= 13 {
            assert_eq!(resp.error_code, NONE);
        }
        assert_eq!(resp.topics.len(), 1, "v{v}");
        assert_topic(&resp.topics[0], name, 2, v);
        if v >= 10 {
            assert_eq!(resp.topics[0].topic_id, id, "v{v}: topic id is the id CreateTopics returned");
        }

        // By id.
        if v >= 12 {
            let req = metadata_request(v, Some(vec![by_id(id)]), false);
            let resp = metadata(&mut c, v, &req).await;
            assert_eq!(resp.topics.len(), 1, "v{v} by id");
            assert_topic(&resp.topics[0], name, 2, v);
            assert_eq!(resp.topics[0].topic_id, id);
            let unknown = metadata_request(v, Some(vec![by_id(Uuid::new_v4())]), false);
            let resp = metadata(&mut c, v, &unknown).await;
            assert_eq!(resp.topics[0].error_code, E::UnknownTopicId.code(), "v{v}: unknown id");
        }

        // All topics: null from v1, empty in v0.
        let all = if v == 0 { Some(Vec::new()) } else { None };
        let resp = metadata(&mut c, v, &metadata_request(v, all, false)).await;
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name))
            .unwrap_or_else(|| panic!("v{v}: {name} missing from all-topics metadata"));
        assert_topic(t, name, 2, v);

        // Unknown topic, auto-creation not allowed (the flag exists from v4).
        if v >= 4 {
            let missing = format!("rt-metadata-missing-v{v}");
            let req = metadata_request(v, Some(vec![by_name(&missing)]), false);
            let resp = metadata(&mut c, v, &req).await;
            assert_eq!(resp.topics.len(), 1);
            assert_eq!(resp.topics[0].error_code, E::UnknownTopicOrPartition.code(), "v{v}: {missing}");
            assert_eq!(topic_metadata(&mut c, &missing).await.error_code, E::UnknownTopicOrPartition.code());
        }

        // Authorized operations, when asked for (v8+), are filled in on
        // every entry, unknown topics too: kafka-python decodes them
        // even for an error entry (bit 31 alone is not an operation).
        if v >= 8 {
            let missing = format!("rt-metadata-ops-missing-v{v}");
            let mut req = metadata_request(v, Some(vec![by_name(name), by_name(&missing)]), false);
            req.include_topic_authorized_operations = true;
            let resp = metadata(&mut c, v, &req).await;
            assert_eq!(resp.topics.len(), 2, "v{v}");
            for t in &resp.topics {
                assert!(
                    t.topic_authorized_operations > 0,
                    "v{v}: {:?} authorized operations {:#x}",
                    t.name,
                    t.topic_authorized_operations
                );
            }
            assert_eq!(
                resp.topics[0].topic_authorized_operations, resp.topics[1].topic_authorized_operations,
                "v{v}: no authorizer, so the same operations for every topic"
            );
        }
    }
    assert_eq!(cluster_ids.len(), 1, "cluster id is stable across versions: {cluster_ids:?}");
}

/// Metadata auto-creates an unknown topic when the broker and the request
/// allow it (implicitly before v4).
#[tokio::test]
pub(crate) async fn metadata_auto_creates_topics_when_allowed() {
    let env = Env::start(&[("num.partitions", "2")]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 1) {
        let name = format!("rt-auto-v{v}");
        let resp = metadata(&mut c, v, &metadata_request(v, Some(vec![by_name(&name)]), true)).await;
        let code = resp.topics[0].error_code;
        assert!(code == NONE || code == E::LeaderNotAvailable.code(), "v{v}: auto-created topic answered {code}");
        let addr = env.addr();
        let n = name.clone();
        common::wait_until(&format!("{name} to exist"), Duration::from_secs(10), || {
            let n = n.clone();
            async move {
                let t = topic_metadata(&mut connect(addr).await, &n).await;
                t.error_code == NONE && t.partitions.len() == 2
            }
        })
        .await;
    }
    env.stop().await;
}

#[tokio::test]
pub(crate) async fn metadata_does_not_auto_create_when_the_broker_forbids_it() {
    let env = Env::start(&[("auto.create.topics.enable", "false")]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 1) {
        let name = format!("rt-no-auto-v{v}");
        let resp = metadata(&mut c, v, &metadata_request(v, Some(vec![by_name(&name)]), true)).await;
        assert_eq!(resp.topics[0].error_code, E::UnknownTopicOrPartition.code(), "v{v}");
    }
    env.stop().await;
}

#[tokio::test]
pub(crate) async fn metadata_reports_invalid_topic_names() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 4) {
        for allow in [false, true] {
            let resp = metadata(&mut c, v, &metadata_request(v, Some(vec![by_name("bad name")]), allow)).await;
            assert_eq!(resp.topics[0].error_code, E::InvalidTopicException.code(), "v{v} allow_auto={allow}");
        }
    }
    env.stop().await;
}
