//! Round trips for the partition and quorum admin APIs: CreatePartitions,
//! ElectLeaders, ListPartitionReassignments and DescribeQuorum, against
//! the single-node broker of `protocol_roundtrip.rs` (which is its own
//! one-voter metadata quorum).

use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::describe_quorum_request::{PartitionData as QuorumPartition, TopicData as QuorumTopic};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, DescribeQuorumRequest, DescribeQuorumResponse,
    ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::*;

const PREFERRED_ELECTION: i8 = 0;
const UNCLEAN_ELECTION: i8 = 1;

// ---------------------------------------------------------------------------
// CreatePartitions
// ---------------------------------------------------------------------------

fn grow(name: &str, count: i32, assignment: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default().with_name(tn(name)).with_count(count).with_assignments(assignment.map(|a| {
        a.into_iter()
            .map(|ids| CreatePartitionsAssignment::default().with_broker_ids(ids.into_iter().map(BrokerId).collect()))
            .collect()
    }))
}

async fn create_partitions(
    c: &mut BrokerClient,
    v: i16,
    topics: Vec<CreatePartitionsTopic>,
    validate_only: bool,
) -> Vec<CreatePartitionsTopicResult> {
    let req = CreatePartitionsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only);
    let resp: CreatePartitionsResponse =
        c.send(ApiKey::CreatePartitions, v, &req).await.unwrap_or_else(|e| panic!("CreatePartitions v{v}: {e}"));
    resp.results
}

/// Polls Metadata until `name` has `count` partitions.
async fn wait_for_partition_count(addr: SocketAddr, name: &str, count: usize) {
    let name = name.to_string();
    common::wait_until(&format!("{name} to have {count} partitions"), Duration::from_secs(10), || {
        let name = name.clone();
        async move {
            let mut c = connect(addr).await;
            topic_metadata(&mut c, &name).await.partitions.len() == count
        }
    })
    .await;
}

pub(crate) async fn round_trip_create_partitions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-create-partitions-v{v}");
        create_topic(&mut c, &name, 1, &[]).await;

        let r = create_partitions(&mut c, v, vec![grow(&name, 2, None)], false).await;
        assert_eq!(r.len(), 1, "v{v}: one result per topic");
        assert_eq!(r[0].name, tn(&name));
        assert_eq!(r[0].error_code, NONE, "v{v}: {:?}", r[0].error_message);
        assert_eq!(r[0].error_message, None, "v{v}: no message on success");
        wait_for_partition_count(addr, &name, 2).await;

        // validate_only checks without creating.
        let r = create_partitions(&mut c, v, vec![grow(&name, 3, None)], true).await;
        assert_eq!(r[0].error_code, NONE, "v{v} validate_only: {:?}", r[0].error_message);
        assert_eq!(topic_metadata(&mut c, &name).await.partitions.len(), 2, "v{v}: validate_only created partitions");

        // An explicit assignment naming this broker.
        let r = create_partitions(&mut c, v, vec![grow(&name, 3, Some(vec![vec![NODE_ID]]))], false).await;
        assert_eq!(r[0].error_code, NONE, "v{v} assignment: {:?}", r[0].error_message);
        wait_for_partition_count(addr, &name, 3).await;
        let md = topic_metadata(&mut c, &name).await;
        let p2 = md.partitions.iter().find(|p| p.partition_index == 2).expect("partition 2");
        assert_eq!(p2.replica_nodes, vec![BrokerId(NODE_ID)], "v{v}: assigned replicas");
        assert_eq!(p2.leader_id, BrokerId(NODE_ID), "v{v}: new partition has a leader");

        // The same count, or fewer, is INVALID_PARTITIONS.
        for count in [3, 1] {
            let r = create_partitions(&mut c, v, vec![grow(&name, count, None)], false).await;
            assert_eq!(r[0].error_code, E::InvalidPartitions.code(), "v{v} count {count}");
            assert!(r[0].error_message.is_some(), "v{v}: error message");
        }

        // Assignments naming unknown brokers, the wrong number of
        // partitions, or the wrong replica count.
        for bad in [vec![vec![99]], vec![vec![NODE_ID], vec![NODE_ID]], vec![vec![NODE_ID, NODE_ID]]] {
            let r = create_partitions(&mut c, v, vec![grow(&name, 4, Some(bad.clone()))], false).await;
            assert_eq!(r[0].error_code, E::InvalidReplicaAssignment.code(), "v{v} assignment {bad:?}");
        }
        assert_eq!(topic_metadata(&mut c, &name).await.partitions.len(), 3, "v{v}: a refused request changed nothing");

        // Unknown topics, and a topic named twice, next to a good one.
        let other = format!("rt-create-partitions-other-v{v}");
        create_topic(&mut c, &other, 1, &[]).await;
        let r = create_partitions(
            &mut c,
            v,
            vec![grow("rt-no-such-topic", 2, None), grow(&name, 5, None), grow(&name, 6, None), grow(&other, 2, None)],
            false,
        )
        .await;
        let codes: Vec<i16> = r.iter().map(|x| x.error_code).collect();
        assert_eq!(
            codes,
            vec![E::UnknownTopicOrPartition.code(), E::InvalidRequest.code(), E::InvalidRequest.code(), NONE],
            "v{v}"
        );
        wait_for_partition_count(addr, &other, 2).await;
        assert_eq!(topic_metadata(&mut c, &name).await.partitions.len(), 3, "v{v}: duplicated topic untouched");
    }
}

// ---------------------------------------------------------------------------
// ElectLeaders
// ---------------------------------------------------------------------------

async fn elect_leaders(
    c: &mut BrokerClient,
    v: i16,
    election_type: i8,
    partitions: Option<Vec<(&str, Vec<i32>)>>,
) -> ElectLeadersResponse {
    let mut req = ElectLeadersRequest::default().with_timeout_ms(10_000).with_topic_partitions(partitions.map(|ps| {
        ps.into_iter().map(|(t, p)| TopicPartitions::default().with_topic(tn(t)).with_partitions(p)).collect()
    }));
    if v >= 1 {
        req.election_type = election_type;
    }
    c.send(ApiKey::ElectLeaders, v, &req).await.unwrap_or_else(|e| panic!("ElectLeaders v{v}: {e}"))
}

pub(crate) async fn round_trip_elect_leaders(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-elect-leaders-v{v}");
        create_topic(&mut c, &name, 2, &[]).await;
        let types: &[i8] = if v >= 1 { &[PREFERRED_ELECTION, UNCLEAN_ELECTION] } else { &[PREFERRED_ELECTION] };
        for &ty in types {
            // Every partition already has its preferred (and only) leader.
            let resp = elect_leaders(&mut c, v, ty, Some(vec![(&name, vec![0, 1, 7])])).await;
            assert_eq!(resp.error_code, NONE, "v{v} type {ty}");
            assert_eq!(resp.replica_election_results.len(), 1, "v{v} type {ty}");
            let t = &resp.replica_election_results[0];
            assert_eq!(t.topic, tn(&name));
            let got: Vec<(i32, i16)> = t.partition_result.iter().map(|p| (p.partition_id, p.error_code)).collect();
            assert_eq!(
                got,
                vec![
                    (0, E::ElectionNotNeeded.code()),
                    (1, E::ElectionNotNeeded.code()),
                    (7, E::UnknownTopicOrPartition.code())
                ],
                "v{v} type {ty}"
            );

            let resp = elect_leaders(&mut c, v, ty, Some(vec![("rt-elect-no-such-topic", vec![0])])).await;
            assert_eq!(
                resp.replica_election_results[0].partition_result[0].error_code,
                E::UnknownTopicOrPartition.code()
            );

            // All partitions: every topic is listed, and partitions that
            // need no election are left out (Kafka's ElectLeaders).
            let resp = elect_leaders(&mut c, v, ty, None).await;
            assert_eq!(resp.error_code, NONE, "v{v} type {ty} all");
            let t = resp
                .replica_election_results
                .iter()
                .find(|t| t.topic == tn(&name))
                .unwrap_or_else(|| panic!("v{v} type {ty}: {name} missing from an all-partitions election"));
            assert!(t.partition_result.is_empty(), "v{v} type {ty}: {:?}", t.partition_result);
        }
        if v >= 1 {
            let resp = elect_leaders(&mut c, v, 2, Some(vec![(&name, vec![0])])).await;
            assert_eq!(resp.error_code, E::InvalidRequest.code(), "v{v}: unknown election type");
        }
        let md = topic_metadata(&mut c, &name).await;
        assert!(md.partitions.iter().all(|p| p.leader_id == BrokerId(NODE_ID)), "v{v}: leaders unchanged");
    }
}

// ---------------------------------------------------------------------------
// ListPartitionReassignments
// ---------------------------------------------------------------------------

pub(crate) async fn round_trip_list_partition_reassignments(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let name = "rt-list-reassignments";
    create_topic(&mut c, name, 2, &[]).await;
    for v in versions {
        for topics in [
            None,
            Some(vec![ListPartitionReassignmentsTopics::default()
                .with_name(tn(name))
                .with_partition_indexes(vec![0, 1])]),
            Some(vec![ListPartitionReassignmentsTopics::default()
                .with_name(tn("rt-no-such"))
                .with_partition_indexes(vec![0])]),
        ] {
            let req = ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000).with_topics(topics.clone());
            let resp: ListPartitionReassignmentsResponse = c
                .send(ApiKey::ListPartitionReassignments, v, &req)
                .await
                .unwrap_or_else(|e| panic!("ListPartitionReassignments v{v}: {e}"));
            assert_eq!(resp.error_code, NONE, "v{v} {topics:?}");
            assert_eq!(resp.error_message, None, "v{v}");
            assert!(resp.topics.is_empty(), "v{v}: nothing is being reassigned: {:?}", resp.topics);
        }
    }
}

// ---------------------------------------------------------------------------
// DescribeQuorum
// ---------------------------------------------------------------------------

fn quorum_request(topic: &str, partitions: &[i32]) -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![QuorumTopic::default()
        .with_topic_name(tn(topic))
        .with_partitions(partitions.iter().map(|p| QuorumPartition::default().with_partition_index(*p)).collect())])
}

pub(crate) async fn round_trip_describe_quorum(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let resp: DescribeQuorumResponse = c
            .send(ApiKey::DescribeQuorum, v, &quorum_request("__cluster_metadata", &[0]))
            .await
            .unwrap_or_else(|e| panic!("DescribeQuorum v{v}: {e}"));
        assert_eq!(resp.error_code, NONE, "v{v}");
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(resp.topics[0].topic_name, tn("__cluster_metadata"));
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, NONE, "v{v}");
        assert_eq!(p.leader_id, BrokerId(NODE_ID), "v{v}: the only voter leads");
        assert!(p.leader_epoch >= 1, "v{v}: epoch {}", p.leader_epoch);
        assert!(p.high_watermark > 0, "v{v}: the quorum has committed records, hw {}", p.high_watermark);
        assert_eq!(p.current_voters.len(), 1, "v{v}: {:?}", p.current_voters);
        let me = &p.current_voters[0];
        assert_eq!(me.replica_id, BrokerId(NODE_ID));
        assert!(me.log_end_offset >= p.high_watermark, "v{v}: leader LEO {} < hw", me.log_end_offset);
        assert!(p.observers.is_empty(), "v{v}: no broker-only nodes");
        if v >= 1 {
            assert!(me.last_fetch_timestamp > 0 && me.last_caught_up_timestamp > 0, "v{v}: leader timestamps");
        }

        // Anything but exactly __cluster_metadata-0: partition-level
        // UNKNOWN_TOPIC_OR_PARTITION everywhere.
        for req in [
            quorum_request("__cluster_metadata", &[1]),
            quorum_request("other", &[0]),
            quorum_request("__cluster_metadata", &[0, 1]),
        ] {
            let resp: DescribeQuorumResponse = c.send(ApiKey::DescribeQuorum, v, &req).await.expect("DescribeQuorum");
            assert_eq!(resp.error_code, NONE, "v{v}");
            let codes: Vec<i16> = resp.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect();
            assert!(
                !codes.is_empty() && codes.iter().all(|c| *c == E::UnknownTopicOrPartition.code()),
                "v{v}: {codes:?}"
            );
        }
    }
}
