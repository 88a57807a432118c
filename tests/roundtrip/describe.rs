//! Round trips: DescribeCluster and DescribeTopicPartitions (with paging).
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// DescribeCluster
// ---------------------------------------------------------------------------

pub(crate) async fn round_trip_describe_cluster(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let cluster_id =
        metadata(&mut c, 12, &metadata_request(12, Some(Vec::new()), false)).await.cluster_id.expect("cluster id");
    for v in versions {
        let mut req = DescribeClusterRequest::default();
        if v >= 2 {
            req.include_fenced_brokers = true;
        }
        let resp: DescribeClusterResponse =
            c.send(ApiKey::DescribeCluster, v, &req).await.unwrap_or_else(|e| panic!("DescribeCluster v{v}: {e}"));
        assert_eq!(resp.error_code, NONE, "DescribeCluster v{v}: {:?}", resp.error_message);
        assert_eq!(resp.cluster_id, cluster_id, "v{v}: same cluster id as Metadata");
        assert_eq!(resp.controller_id.0, NODE_ID, "v{v}: controller id");
        assert_eq!(resp.cluster_authorized_operations, i32::MIN, "v{v}: operations not requested");
        if v >= 1 {
            assert_eq!(resp.endpoint_type, 1, "v{v}: broker endpoints");
        }
        assert_eq!(resp.brokers.len(), 1, "v{v}: one broker");
        let b = &resp.brokers[0];
        assert_eq!(b.broker_id.0, NODE_ID);
        assert_eq!(b.host.as_str(), addr.ip().to_string());
        assert_eq!(b.port, addr.port() as i32);
        assert!(!b.is_fenced, "v{v}: live broker is not fenced");
    }
}

// ---------------------------------------------------------------------------
// DescribeTopicPartitions
// ---------------------------------------------------------------------------

pub(crate) async fn describe_topic_partitions(
    c: &mut BrokerClient,
    v: i16,
    topics: &[&str],
    limit: i32,
    cursor: Option<(String, i32)>,
) -> DescribeTopicPartitionsResponse {
    let req = DescribeTopicPartitionsRequest::default()
        .with_topics(topics.iter().map(|t| TopicRequest::default().with_name(tn(t))).collect())
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| RequestCursor::default().with_topic_name(tn(&t)).with_partition_index(p)));
    c.send(ApiKey::DescribeTopicPartitions, v, &req)
        .await
        .unwrap_or_else(|e| panic!("DescribeTopicPartitions v{v}: {e}"))
}

/// Pages through `topics` `limit` partitions at a time; returns every
/// (topic, partition) in the order received.
pub(crate) async fn page_through(
    c: &mut BrokerClient,
    v: i16,
    topics: &[&str],
    limit: i32,
    ids: &BTreeMap<String, Uuid>,
) -> Vec<(String, i32)> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for _page in 0..100 {
        let resp = describe_topic_partitions(c, v, topics, limit, cursor.clone()).await;
        let in_page: usize = resp.topics.iter().map(|t| t.partitions.len()).sum();
        assert!(in_page <= limit as usize, "v{v}: page of {in_page} partitions exceeds the limit {limit}");
        for t in &resp.topics {
            let name = t.name.as_ref().expect("topic name").0.to_string();
            assert_eq!(t.error_code, NONE, "v{v}: {name}");
            assert_eq!(Some(&t.topic_id), ids.get(&name), "v{v}: {name} id");
            assert!(!t.is_internal);
            for p in &t.partitions {
                assert_eq!(p.error_code, NONE);
                assert_eq!(p.leader_id.0, NODE_ID);
                assert!(p.leader_epoch >= 0);
                assert_eq!(p.replica_nodes, vec![BrokerId(NODE_ID)]);
                assert_eq!(p.isr_nodes, vec![BrokerId(NODE_ID)]);
                assert!(p.offline_replicas.is_empty());
                seen.push((name.clone(), p.partition_index));
            }
        }
        match resp.next_cursor {
            None => return seen,
            Some(next) => {
                let next = (next.topic_name.0.to_string(), next.partition_index);
                assert!(Some(&next) != cursor.as_ref(), "v{v}: cursor {next:?} does not advance");
                assert!(in_page > 0, "v{v}: empty page with a cursor");
                cursor = Some(next);
            }
        }
    }
    panic!("v{v}: the cursor never ends");
}

pub(crate) async fn round_trip_describe_topic_partitions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let mut ids = BTreeMap::new();
    for (name, n) in [("rt-dtp-a", 5), ("rt-dtp-b", 3)] {
        ids.insert(name.to_string(), create_topic(&mut c, name, n, &[]).await);
    }
    let expect = |topics: &[(&str, i32)]| -> Vec<(String, i32)> {
        topics.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p))).collect()
    };
    for v in versions {
        let one = page_through(&mut c, v, &["rt-dtp-a"], 2, &ids).await;
        assert_eq!(one, expect(&[("rt-dtp-a", 5)]), "v{v}: one topic in pages of 2");
        let two = page_through(&mut c, v, &["rt-dtp-b", "rt-dtp-a"], 2, &ids).await;
        assert_eq!(two, expect(&[("rt-dtp-a", 5), ("rt-dtp-b", 3)]), "v{v}: two topics in pages of 2");
        let whole = page_through(&mut c, v, &["rt-dtp-a", "rt-dtp-b"], 2000, &ids).await;
        assert_eq!(whole, expect(&[("rt-dtp-a", 5), ("rt-dtp-b", 3)]), "v{v}: one page");

        let resp = describe_topic_partitions(&mut c, v, &["rt-no-such-topic"], 10, None).await;
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(resp.topics[0].error_code, E::UnknownTopicOrPartition.code(), "v{v}: unknown topic");
        assert!(resp.next_cursor.is_none());
    }
}
