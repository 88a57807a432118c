//! Round trips and error paths of the transaction coordinator's APIs:
//! FindCoordinator (TRANSACTION keys), InitProducerId with a transactional
//! id, AddPartitionsToTxn (client versions and the batched, verify-only
//! versions partition leaders send), AddOffsetsToTxn, EndTxn,
//! DescribeTransactions and ListTransactions, against the single-node
//! broker of `protocol_roundtrip.rs`.

use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::add_partitions_to_txn_response::AddPartitionsToTxnTopicResult;
use kafka_protocol::messages::describe_transactions_response::TransactionState as DescribedTxn;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::*;

const KEY_TYPE_TRANSACTION: i8 = 1;
const TXN_TIMEOUT_MS: i32 = 60_000;

fn tid(v: &str) -> TransactionalId {
    TransactionalId(s(v))
}

/// FindCoordinator for transactional ids: (error, node, host, port) per key.
pub(crate) async fn find_txn_coordinator(c: &mut BrokerClient, v: i16, keys: &[&str]) -> Vec<(i16, i32, String, i32)> {
    let mut req = FindCoordinatorRequest::default().with_key_type(KEY_TYPE_TRANSACTION);
    if v >= 4 {
        req.coordinator_keys = keys.iter().map(|k| s(k)).collect();
    } else {
        req.key = s(keys[0]);
    }
    let resp: FindCoordinatorResponse =
        c.send(ApiKey::FindCoordinator, v, &req).await.unwrap_or_else(|e| panic!("FindCoordinator v{v}: {e}"));
    if v >= 4 {
        resp.coordinators.iter().map(|c| (c.error_code, c.node_id.0, c.host.to_string(), c.port)).collect()
    } else {
        vec![(resp.error_code, resp.node_id.0, resp.host.to_string(), resp.port)]
    }
}

async fn init_txn_once(
    c: &mut BrokerClient,
    v: i16,
    id: &str,
    timeout_ms: i32,
    current: Option<(i64, i16)>,
) -> InitProducerIdResponse {
    let mut req =
        InitProducerIdRequest::default().with_transactional_id(Some(tid(id))).with_transaction_timeout_ms(timeout_ms);
    if let Some((pid, epoch)) = current {
        req = req.with_producer_id(ProducerId(pid)).with_producer_epoch(epoch);
    }
    c.send(ApiKey::InitProducerId, v, &req).await.unwrap_or_else(|e| panic!("InitProducerId v{v}: {e}"))
}

/// Codes a client retries while the coordinator starts or finishes a
/// previous transaction.
fn retriable(code: i16) -> bool {
    [
        E::CoordinatorLoadInProgress.code(),
        E::CoordinatorNotAvailable.code(),
        E::NotCoordinator.code(),
        E::ConcurrentTransactions.code(),
    ]
    .contains(&code)
}

/// InitProducerId for a transactional id, retried as a client retries
/// (the first one creates `__transaction_state`, whose partitions load).
pub(crate) async fn init_txn(addr: SocketAddr, v: i16, id: &str) -> (i64, i16) {
    let found = Arc::new(std::sync::Mutex::new(None));
    let f = found.clone();
    let id = id.to_string();
    common::wait_until(&format!("InitProducerId v{v} for {id}"), Duration::from_secs(30), || {
        let (f, id) = (f.clone(), id.clone());
        async move {
            let mut c = connect(addr).await;
            if find_txn_coordinator(&mut c, 4, &[&id]).await[0].0 != NONE {
                return false;
            }
            let r = init_txn_once(&mut c, v, &id, TXN_TIMEOUT_MS, None).await;
            if retriable(r.error_code) {
                return false;
            }
            assert_eq!(r.error_code, NONE, "InitProducerId v{v} {id}");
            *f.lock().unwrap() = Some((r.producer_id.0, r.producer_epoch));
            true
        }
    })
    .await;
    let got = found.lock().unwrap().expect("set");
    got
}

type Codes = Vec<((String, i32), i16)>;

fn codes(results: &[AddPartitionsToTxnTopicResult]) -> Codes {
    let mut out: Codes = results
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(move |p| ((t.name.0.to_string(), p.partition_index), p.partition_error_code))
        })
        .collect();
    out.sort();
    out
}

fn txn_topics(topics: &[(&str, &[i32])]) -> Vec<AddPartitionsToTxnTopic> {
    topics
        .iter()
        .map(|(t, ps)| AddPartitionsToTxnTopic::default().with_name(tn(t)).with_partitions(ps.to_vec()))
        .collect()
}

/// AddPartitionsToTxn v0-3 (one transaction).
async fn add_partitions(
    c: &mut BrokerClient,
    v: i16,
    id: &str,
    (pid, epoch): (i64, i16),
    topics: &[(&str, &[i32])],
) -> Codes {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(txn_topics(topics));
    let resp: AddPartitionsToTxnResponse =
        c.send(ApiKey::AddPartitionsToTxn, v, &req).await.unwrap_or_else(|e| panic!("AddPartitionsToTxn v{v}: {e}"));
    codes(&resp.results_by_topic_v3_and_below)
}

/// One transaction of a batched AddPartitionsToTxn: id, producer, verify
/// only, partitions by topic.
type BatchedTxn<'a> = (&'a str, (i64, i16), bool, &'a [(&'a str, &'a [i32])]);

/// AddPartitionsToTxn v4+ (batched): per transaction, its codes.
async fn add_partitions_batched(c: &mut BrokerClient, v: i16, txns: &[BatchedTxn<'_>]) -> Vec<(String, Codes)> {
    let req = AddPartitionsToTxnRequest::default().with_transactions(
        txns.iter()
            .map(|(id, (pid, epoch), verify, topics)| {
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(tid(id))
                    .with_producer_id(ProducerId(*pid))
                    .with_producer_epoch(*epoch)
                    .with_verify_only(*verify)
                    .with_topics(txn_topics(topics))
            })
            .collect(),
    );
    let resp: AddPartitionsToTxnResponse =
        c.send(ApiKey::AddPartitionsToTxn, v, &req).await.unwrap_or_else(|e| panic!("AddPartitionsToTxn v{v}: {e}"));
    assert_eq!(resp.error_code, NONE, "AddPartitionsToTxn v{v} top-level error");
    resp.results_by_transaction.iter().map(|r| (r.transactional_id.0.to_string(), codes(&r.topic_results))).collect()
}

async fn add_offsets(c: &mut BrokerClient, v: i16, id: &str, (pid, epoch): (i64, i16), group: &str) -> i16 {
    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(s(group)));
    let resp: AddOffsetsToTxnResponse =
        c.send(ApiKey::AddOffsetsToTxn, v, &req).await.unwrap_or_else(|e| panic!("AddOffsetsToTxn v{v}: {e}"));
    resp.error_code
}

async fn end_txn(c: &mut BrokerClient, v: i16, id: &str, (pid, epoch): (i64, i16), commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let resp: EndTxnResponse = c.send(ApiKey::EndTxn, v, &req).await.unwrap_or_else(|e| panic!("EndTxn v{v}: {e}"));
    resp.error_code
}

async fn describe_txns(c: &mut BrokerClient, ids: &[&str]) -> Vec<DescribedTxn> {
    let req = DescribeTransactionsRequest::default().with_transactional_ids(ids.iter().map(|i| tid(i)).collect());
    let resp: DescribeTransactionsResponse =
        c.send(ApiKey::DescribeTransactions, 0, &req).await.unwrap_or_else(|e| panic!("DescribeTransactions v0: {e}"));
    assert_eq!(resp.transaction_states.len(), ids.len(), "one answer per id");
    resp.transaction_states
}

async fn list_txns(
    c: &mut BrokerClient,
    v: i16,
    states: &[&str],
    pids: &[i64],
    duration: i64,
) -> ListTransactionsResponse {
    let mut req = ListTransactionsRequest::default()
        .with_state_filters(states.iter().map(|x| s(x)).collect())
        .with_producer_id_filters(pids.iter().map(|p| ProducerId(*p)).collect());
    if v >= 1 {
        req = req.with_duration_filter(duration);
    }
    c.send(ApiKey::ListTransactions, v, &req).await.unwrap_or_else(|e| panic!("ListTransactions v{v}: {e}"))
}

/// The code a fenced producer gets at a version: PRODUCER_FENCED from
/// `since`, INVALID_PRODUCER_EPOCH before.
fn fenced(v: i16, since: i16) -> i16 {
    if v >= since {
        E::ProducerFenced.code()
    } else {
        E::InvalidProducerEpoch.code()
    }
}

fn all(c: &Codes, code: i16) -> bool {
    !c.is_empty() && c.iter().all(|(_, x)| *x == code)
}

pub(crate) async fn round_trip_find_txn_coordinator(addr: SocketAddr, v: i16) {
    let mut c = connect(addr).await;
    init_txn(addr, 5, "rt-find-txn").await;
    let found = find_txn_coordinator(&mut c, v, &["rt-find-txn"]).await;
    assert_is_this_broker(&found[0], addr, &format!("FindCoordinator v{v} TRANSACTION"));
    let empty = find_txn_coordinator(&mut c, v, &[""]).await;
    assert_eq!(empty[0].0, E::InvalidRequest.code(), "FindCoordinator v{v}: an empty transactional id");
}

/// InitProducerId with a transactional id at `v`: a first epoch, a bump
/// per call, KIP-360's bump with the current id and epoch (v3+), fencing
/// of an older epoch, and the request errors.
pub(crate) async fn round_trip_txn_init_producer_id(addr: SocketAddr, v: i16) {
    let mut c = connect(addr).await;
    let id = format!("rt-ipi-v{v}");
    let (pid, epoch) = init_txn(addr, v, &id).await;
    assert_eq!(epoch, 0, "v{v}: a new transactional id starts at epoch 0");
    let r = init_txn_once(&mut c, v, &id, TXN_TIMEOUT_MS, None).await;
    assert_eq!((r.error_code, r.producer_id.0, r.producer_epoch), (NONE, pid, 1), "v{v}: the epoch is bumped");
    if v >= 3 {
        let r = init_txn_once(&mut c, v, &id, TXN_TIMEOUT_MS, Some((pid, 1))).await;
        assert_eq!((r.error_code, r.producer_epoch), (NONE, 2), "v{v}: KIP-360 bump");
        let retry = init_txn_once(&mut c, v, &id, TXN_TIMEOUT_MS, Some((pid, 1))).await;
        assert_eq!((retry.error_code, retry.producer_epoch), (NONE, 2), "v{v}: a retried bump is not bumped again");
        let stale = init_txn_once(&mut c, v, &id, TXN_TIMEOUT_MS, Some((pid, 0))).await;
        assert_eq!(stale.error_code, fenced(v, 4), "v{v}: an older epoch is fenced");
    }
    for bad in [0, 900_001] {
        let r = init_txn_once(&mut c, v, &id, bad, None).await;
        assert_eq!(r.error_code, E::InvalidTransactionTimeout.code(), "v{v}: timeout {bad}");
        assert_eq!((r.producer_id.0, r.producer_epoch), (-1, -1));
    }
    let r = init_txn_once(&mut c, v, "", TXN_TIMEOUT_MS, None).await;
    assert_eq!(r.error_code, E::InvalidRequest.code(), "v{v}: an empty transactional id");
}

pub(crate) async fn round_trip_add_partitions_to_txn(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-txn-apt";
    create_topic(&mut c, topic, 3, &[]).await;
    for v in versions {
        let id = format!("rt-apt-v{v}");
        let p = init_txn(addr, 5, &id).await;
        if v < 4 {
            let r = add_partitions(&mut c, v, &id, p, &[(topic, &[0, 1])]).await;
            assert_eq!(r, vec![((topic.into(), 0), NONE), ((topic.into(), 1), NONE)], "v{v}");
            let again = add_partitions(&mut c, v, &id, p, &[(topic, &[1])]).await;
            assert!(all(&again, NONE), "v{v}: adding a partition twice: {again:?}");
            let mixed = add_partitions(&mut c, v, &id, p, &[(topic, &[2]), ("rt-no-such-topic", &[0])]).await;
            assert_eq!(
                mixed,
                vec![
                    (("rt-no-such-topic".into(), 0), E::UnknownTopicOrPartition.code()),
                    ((topic.into(), 2), E::OperationNotAttempted.code()),
                ],
                "v{v}: an unknown topic"
            );
            let stale = add_partitions(&mut c, v, &id, (p.0, p.1 + 1), &[(topic, &[2])]).await;
            assert!(all(&stale, fenced(v, 2)), "v{v}: another epoch: {stale:?}");
            let other_pid = add_partitions(&mut c, v, &id, (p.0 + 1000, p.1), &[(topic, &[2])]).await;
            assert!(all(&other_pid, E::InvalidProducerIdMapping.code()), "v{v}: another producer id");
            let unknown = add_partitions(&mut c, v, "rt-apt-unknown", p, &[(topic, &[2])]).await;
            assert!(all(&unknown, E::InvalidProducerIdMapping.code()), "v{v}: an unknown transactional id");
        } else {
            let other = format!("rt-apt-v{v}-b");
            let q = init_txn(addr, 5, &other).await;
            // A leader's batch: one transaction added, one verified.
            let r = add_partitions_batched(
                &mut c,
                v,
                &[(&id, p, false, &[(topic, &[0])]), (&other, q, true, &[(topic, &[0])])],
            )
            .await;
            assert_eq!(r[0], (id.clone(), vec![((topic.into(), 0), NONE)]), "v{v}: added");
            assert_eq!(
                r[1],
                (other.clone(), vec![((topic.into(), 0), E::TransactionAbortable.code())]),
                "v{v}: a partition not in the transaction fails verification"
            );
            let r = add_partitions_batched(&mut c, v, &[(&id, p, true, &[(topic, &[0, 1])])]).await;
            assert_eq!(
                r[0].1,
                vec![((topic.into(), 0), NONE), ((topic.into(), 1), E::TransactionAbortable.code())],
                "v{v}: verify-only answers per partition and adds nothing"
            );
            let r = add_partitions_batched(&mut c, v, &[(&id, (p.0, p.1 + 1), true, &[(topic, &[0])])]).await;
            assert!(all(&r[0].1, E::ProducerFenced.code()), "v{v}: verification with another epoch");
            let r = add_partitions_batched(&mut c, v, &[("rt-apt-unknown", p, true, &[(topic, &[0])])]).await;
            assert!(all(&r[0].1, E::InvalidProducerIdMapping.code()), "v{v}: verification of an unknown id");
        }
        let d = &describe_txns(&mut c, &[&id]).await[0];
        assert_eq!(d.transaction_state.as_str(), "Ongoing", "v{v}");
    }
}

pub(crate) async fn round_trip_add_offsets_to_txn(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let id = format!("rt-aot-v{v}");
        let p = init_txn(addr, 5, &id).await;
        assert_eq!(add_offsets(&mut c, v, &id, p, "rt-aot-group").await, NONE, "v{v}");
        let d = &describe_txns(&mut c, &[&id]).await[0];
        assert_eq!(d.transaction_state.as_str(), "Ongoing", "v{v}");
        assert_eq!(d.topics.len(), 1, "v{v}");
        assert_eq!(d.topics[0].topic.0.as_str(), "__consumer_offsets", "v{v}: the group's partition joined");
        assert_eq!(add_offsets(&mut c, v, &id, (p.0, p.1 + 1), "rt-aot-group").await, fenced(v, 2), "v{v}: stale");
        assert_eq!(
            add_offsets(&mut c, v, "rt-aot-unknown", p, "rt-aot-group").await,
            E::InvalidProducerIdMapping.code(),
            "v{v}: an unknown transactional id"
        );
    }
}

pub(crate) async fn round_trip_end_txn(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-txn-end";
    create_topic(&mut c, topic, 1, &[]).await;
    for v in versions {
        let id = format!("rt-end-v{v}");
        let p = init_txn(addr, 5, &id).await;
        assert_eq!(end_txn(&mut c, v, &id, p, true).await, E::InvalidTxnState.code(), "v{v}: no transaction to end");
        assert!(all(&add_partitions(&mut c, 3, &id, p, &[(topic, &[0])]).await, NONE));
        assert_eq!(end_txn(&mut c, v, &id, (p.0, p.1 + 1), false).await, fenced(v, 2), "v{v}: another epoch");
        assert_eq!(
            end_txn(&mut c, v, &id, (p.0 + 1000, p.1), false).await,
            E::InvalidProducerIdMapping.code(),
            "v{v}: another producer id"
        );
        assert_eq!(end_txn(&mut c, v, &id, p, false).await, NONE, "v{v}: abort");
        // Now PrepareAbort or CompleteAbort: a commit is refused, a repeated
        // abort is either in progress or done.
        assert_eq!(end_txn(&mut c, v, &id, p, true).await, E::InvalidTxnState.code(), "v{v}: commit after abort");
        let again = end_txn(&mut c, v, &id, p, false).await;
        assert!([NONE, E::ConcurrentTransactions.code()].contains(&again), "v{v}: abort again: {again}");
        assert_eq!(
            end_txn(&mut c, v, "rt-end-unknown", p, true).await,
            E::InvalidProducerIdMapping.code(),
            "v{v}: an unknown transactional id"
        );
    }
}

pub(crate) async fn round_trip_describe_transactions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-txn-describe";
    create_topic(&mut c, topic, 2, &[]).await;
    for v in versions {
        assert_eq!(v, 0);
        let id = "rt-describe";
        let p = init_txn(addr, 5, id).await;
        let d = describe_txns(&mut c, &[id]).await.remove(0);
        assert_eq!((d.error_code, d.transaction_state.as_str()), (NONE, "Empty"));
        assert_eq!((d.producer_id.0, d.producer_epoch, d.transaction_timeout_ms), (p.0, p.1, TXN_TIMEOUT_MS));
        assert!(all(&add_partitions(&mut c, 3, id, p, &[(topic, &[1, 0])]).await, NONE));
        let started = now_ms();
        let d = describe_txns(&mut c, &[id, "rt-describe-unknown", ""]).await;
        assert_eq!((d[0].error_code, d[0].transaction_state.as_str()), (NONE, "Ongoing"));
        assert!(d[0].transaction_start_time_ms > 0 && d[0].transaction_start_time_ms <= started);
        assert_eq!(d[0].topics.len(), 1);
        assert_eq!((d[0].topics[0].topic.0.as_str(), d[0].topics[0].partitions.clone()), (topic, vec![0, 1]));
        assert_eq!(d[1].error_code, E::TransactionalIdNotFound.code(), "an unknown id");
        assert_eq!(d[1].transactional_id.0.as_str(), "rt-describe-unknown");
        assert_eq!(d[2].error_code, E::TransactionalIdNotFound.code(), "an empty id");
    }
}

pub(crate) async fn round_trip_list_transactions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-txn-list";
    create_topic(&mut c, topic, 1, &[]).await;
    for v in versions {
        let id = format!("rt-list-v{v}");
        let p = init_txn(addr, 5, &id).await;
        assert!(all(&add_partitions(&mut c, 3, &id, p, &[(topic, &[0])]).await, NONE));
        let listed = |r: &ListTransactionsResponse| {
            r.transaction_states.iter().any(|t| t.transactional_id.0.as_str() == id && t.producer_id.0 == p.0)
        };
        let r = list_txns(&mut c, v, &[], &[], -1).await;
        assert_eq!(r.error_code, NONE, "v{v}");
        assert!(listed(&r), "v{v}: every transaction");
        let r = list_txns(&mut c, v, &["Ongoing", "Bogus"], &[p.0], -1).await;
        assert!(listed(&r), "v{v}: by state and producer id");
        assert_eq!(r.unknown_state_filters.iter().map(|x| x.to_string()).collect::<Vec<_>>(), vec!["Bogus"]);
        assert!(r.transaction_states.iter().all(|t| t.transaction_state.as_str() == "Ongoing"), "v{v}");
        assert!(!listed(&list_txns(&mut c, v, &["CompleteCommit"], &[], -1).await), "v{v}: another state");
        assert!(!listed(&list_txns(&mut c, v, &[], &[p.0 + 1000], -1).await), "v{v}: another producer id");
        assert!(!listed(&list_txns(&mut c, v, &["Bogus"], &[], -1).await), "v{v}: only unknown states");
        if v >= 1 {
            assert!(!listed(&list_txns(&mut c, v, &[], &[], 3_600_000).await), "v{v}: younger than an hour");
            assert!(listed(&list_txns(&mut c, v, &[], &[], 0).await), "v{v}: any duration");
        }
    }
}

/// A TxnOffsetCommit's group membership: group, generation, member.
struct Member<'a>(&'a str, i32, &'a str);

async fn txn_offset_commit(
    c: &mut BrokerClient,
    v: i16,
    id: &str,
    (pid, epoch): (i64, i16),
    Member(group, generation, member): Member<'_>,
    offsets: &[(&str, i32, i64)],
) -> Vec<((String, i32), i16)> {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for (t, p, o) in offsets {
        let part = TxnOffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_leader_epoch(if v >= 2 { 0 } else { -1 })
            .with_committed_metadata(Some(s("m")));
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(TxnOffsetCommitRequestTopic::default().with_name(tn(t)).with_partitions(vec![part])),
        }
    }
    let mut req = kafka_protocol::messages::TxnOffsetCommitRequest::default()
        .with_transactional_id(tid(id))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_topics(topics);
    if v >= 3 {
        req = req.with_generation_id(generation).with_member_id(s(member));
    }
    let resp: kafka_protocol::messages::TxnOffsetCommitResponse =
        c.send(ApiKey::TxnOffsetCommit, v, &req).await.unwrap_or_else(|e| panic!("TxnOffsetCommit v{v}: {e}"));
    let mut out: Vec<((String, i32), i16)> = resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| ((t.name.0.to_string(), p.partition_index), p.error_code)))
        .collect();
    out.sort();
    out
}

/// OffsetFetch v7 with require_stable: (offset, error) of one partition.
async fn fetch_stable(c: &mut BrokerClient, group: &str, topic: &str, partition: i32) -> (i64, i16) {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(tn(topic))
            .with_partition_indexes(vec![partition])]))
        .with_require_stable(true);
    let resp: OffsetFetchResponse =
        c.send(ApiKey::OffsetFetch, 7, &req).await.unwrap_or_else(|e| panic!("OffsetFetch v7: {e}"));
    let p = &resp.topics[0].partitions[0];
    (p.committed_offset, p.error_code)
}

pub(crate) async fn round_trip_txn_offset_commit(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-txn-toc";
    create_topic(&mut c, topic, 2, &[]).await;
    for v in versions {
        let id = format!("rt-toc-v{v}");
        let group = format!("rt-toc-group-v{v}");
        let p = init_txn(addr, 5, &id).await;
        assert_eq!(add_offsets(&mut c, 3, &id, p, &group).await, NONE, "v{v}");
        let r =
            txn_offset_commit(&mut c, v, &id, p, Member(&group, -1, ""), &[(topic, 0, 42), ("rt-no-such-topic", 0, 1)])
                .await;
        assert_eq!(
            r,
            vec![(("rt-no-such-topic".into(), 0), E::UnknownTopicOrPartition.code()), ((topic.into(), 0), NONE)],
            "v{v}: a simple (generation -1) transactional commit"
        );
        // Pending until the transaction commits.
        assert_eq!(fetch_stable(&mut c, &group, topic, 0).await, (-1, E::UnstableOffsetCommit.code()), "v{v}");
        let plain = offset_fetch(&mut c, 7, &group, Some(&[(topic, &[0, 1])])).await;
        assert_eq!(plain.topics[0].partitions[0].committed_offset, -1, "v{v}: not committed yet");
        assert_eq!(fetch_stable(&mut c, &group, topic, 1).await, (-1, NONE), "v{v}: another partition is stable");
        if v >= 3 {
            // KIP-447: a generation the group never had.
            let fenced_group = format!("rt-toc-nogroup-v{v}");
            let r = txn_offset_commit(&mut c, v, &id, p, Member(&fenced_group, 3, "made-up"), &[(topic, 0, 1)]).await;
            assert_eq!(r, vec![((topic.into(), 0), E::IllegalGeneration.code())], "v{v}: unknown group, generation 3");
            let r = txn_offset_commit(&mut c, v, &id, p, Member(&group, 1, "made-up"), &[(topic, 1, 1)]).await;
            assert_eq!(r, vec![((topic.into(), 1), E::UnknownMemberId.code())], "v{v}: a member the group lacks");
        }
    }
}
