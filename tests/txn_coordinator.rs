//! The transaction coordinator against real clients and real broker
//! processes: the state in `__transaction_state` read back after a kill -9
//! (and through `weir dump-log --transaction-log-decoder`), rdkafka's
//! transactional producer (commit, abort, send_offsets_to_transaction),
//! zombie fencing with two producers of one transactional id, and the
//! abort of a transaction that outlived its timeout, whose late producer
//! is then fenced.

mod common;

use std::time::Duration;

use common::{BrokerProcess, TestBroker};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, DescribeTransactionsRequest,
    DescribeTransactionsResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use weir::tools::dump_log::{run, DumpLogArgs};
use weir::wire::client::BrokerClient;

const TIMEOUT: Duration = Duration::from_secs(30);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn connect(addr: &str) -> BrokerClient {
    BrokerClient::connect(addr, "txn-test").await.expect("connect")
}

/// InitProducerId for `id`, retried while the coordinator starts.
async fn init_producer_id(addr: &str, id: &str) -> (i64, i16) {
    let mut got = None;
    let start = std::time::Instant::now();
    while got.is_none() {
        assert!(start.elapsed() < TIMEOUT, "InitProducerId for {id}");
        let mut c = connect(addr).await;
        let req = FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s(id)]);
        let found: FindCoordinatorResponse = c.send(ApiKey::FindCoordinator, 4, &req).await.expect("FindCoordinator");
        if found.coordinators[0].error_code == 0 {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(id))))
                .with_transaction_timeout_ms(60_000);
            let r: InitProducerIdResponse = c.send(ApiKey::InitProducerId, 5, &req).await.expect("InitProducerId");
            if r.error_code == 0 {
                got = Some((r.producer_id.0, r.producer_epoch));
                continue;
            }
            assert!(
                [E::CoordinatorLoadInProgress.code(), E::NotCoordinator.code(), E::ConcurrentTransactions.code()]
                    .contains(&r.error_code),
                "InitProducerId: {}",
                r.error_code
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    got.expect("set")
}

async fn describe(addr: &str, id: &str) -> kafka_protocol::messages::describe_transactions_response::TransactionState {
    let mut c = connect(addr).await;
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(id))]);
    let mut r: DescribeTransactionsResponse =
        c.send(ApiKey::DescribeTransactions, 0, &req).await.expect("DescribeTransactions");
    r.transaction_states.remove(0)
}

/// DescribeTransactions until the coordinator has loaded and answers.
async fn describe_loaded(
    addr: &str,
    id: &str,
) -> kafka_protocol::messages::describe_transactions_response::TransactionState {
    let start = std::time::Instant::now();
    loop {
        let d = describe(addr, id).await;
        if ![E::CoordinatorLoadInProgress.code(), E::NotCoordinator.code()].contains(&d.error_code) {
            return d;
        }
        assert!(start.elapsed() < TIMEOUT, "the coordinator of {id} never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_topic(addr: &str, name: &str, partitions: i32) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
    let mut c = connect(addr).await;
    let req = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(10_000);
    let r: CreateTopicsResponse = c.send(ApiKey::CreateTopics, 7, &req).await.expect("CreateTopics");
    assert_eq!(r.topics[0].error_code, 0, "create {name}: {:?}", r.topics[0].error_message);
}

/// The state a coordinator acknowledged is in `__transaction_state` with
/// acks=all semantics: after a kill -9 the restarted broker loads it
/// (same producer id, epoch, state and partitions), the next
/// InitProducerId bumps the epoch from there, and the partition reads back
/// with the transaction log decoder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_state_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn(dir.path(), &[]);
    let addr = broker.bootstrap();
    create_topic(&addr, "txn-durable", 3).await;
    let id = "durable-txn";
    let (pid, epoch) = init_producer_id(&addr, id).await;
    let (pid2, epoch2) = init_producer_id(&addr, id).await;
    assert_eq!((pid2, epoch2), (pid, epoch + 1), "a second InitProducerId bumps the epoch");
    let mut c = connect(&addr).await;
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch2)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s("txn-durable")))
            .with_partitions(vec![2, 0])]);
    let r: AddPartitionsToTxnResponse = c.send(ApiKey::AddPartitionsToTxn, 3, &req).await.expect("AddPartitionsToTxn");
    assert!(r.results_by_topic_v3_and_below[0].results_by_partition.iter().all(|p| p.partition_error_code == 0));
    let before = describe(&addr, id).await;
    assert_eq!(before.transaction_state.as_str(), "Ongoing");
    broker.kill9();

    let broker = BrokerProcess::spawn(dir.path(), &[]);
    let addr = broker.bootstrap();
    let after = describe_loaded(&addr, id).await;
    assert_eq!(after.error_code, 0);
    assert_eq!(
        (after.transaction_state.as_str(), after.producer_id.0, after.producer_epoch),
        ("Ongoing", pid, epoch2),
        "the acknowledged state survived"
    );
    assert_eq!(after.transaction_start_time_ms, before.transaction_start_time_ms);
    assert_eq!(after.topics.len(), 1);
    assert_eq!(after.topics[0].partitions, vec![0, 2]);
    drop(broker);

    // The records, as `weir dump-log --transaction-log-decoder` prints them.
    let partition = weir::coordinator::transaction::partition_for(id, 50);
    let seg = dir.path().join(format!("__transaction_state-{partition}")).join("00000000000000000000.log");
    let mut args = DumpLogArgs::new(vec![seg]);
    args.transaction_log_decoder = true;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run(&args, &mut out, &mut err).expect("dump-log");
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("transactionalId=durable-txn")).collect();
    assert!(lines.len() >= 3, "three writes: {out}");
    assert!(lines[0].contains(&format!("producerId:{pid},producerEpoch:{epoch},state=Empty")), "{}", lines[0]);
    assert!(
        lines[2].contains(&format!(
            "producerId:{pid},producerEpoch:{epoch2},state=Ongoing,partitions=[txn-durable-0,txn-durable-2]"
        )),
        "{}",
        lines[2]
    );
}

fn txn_producer(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> ThreadedProducer<DefaultProducerContext> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("transactional.id", id).set("linger.ms", "5");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("transactional producer")
}

fn send(
    p: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: i32,
    values: impl IntoIterator<Item = String>,
) {
    for v in values {
        let key = v.clone();
        p.send(BaseRecord::to(topic).partition(partition).key(&key).payload(&v)).expect("enqueue");
    }
}

/// Consumes `topic` from the start until `expected` records or the end
/// after a quiet period: (partition, value) in order of arrival.
fn consume_all(bootstrap: &str, topic: &str, partitions: i32, isolation: &str, expected: usize) -> Vec<(i32, String)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}-{isolation}"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while out.len() < expected && start.elapsed() < TIMEOUT {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.expect("consume");
            out.push((m.partition(), String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string()));
        }
    }
    // Nothing more arrives (what must not be seen would come with the rest).
    let quiet = std::time::Instant::now();
    while quiet.elapsed() < Duration::from_secs(1) {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            out.push((m.partition(), String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string()));
        }
    }
    out
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// init / begin / produce / commit, then begin / produce / abort: a
/// read_committed consumer sees the committed records exactly once and
/// never the aborted ones; a read_uncommitted consumer sees both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_commit_and_abort() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "txn-out", 2).await;
    let bs2 = bs.clone();
    tokio::task::spawn_blocking(move || {
        let p = txn_producer(&bs2, "commit-abort", &[]);
        p.init_transactions(TIMEOUT).expect("init_transactions");
        p.begin_transaction().unwrap();
        send(&p, "txn-out", 0, values("committed-a", 10));
        send(&p, "txn-out", 1, values("committed-b", 5));
        p.commit_transaction(TIMEOUT).expect("commit");
        p.begin_transaction().unwrap();
        send(&p, "txn-out", 0, values("aborted", 7));
        p.flush(TIMEOUT).unwrap();
        p.abort_transaction(TIMEOUT).expect("abort");
        p.begin_transaction().unwrap();
        send(&p, "txn-out", 1, values("committed-c", 3));
        p.commit_transaction(TIMEOUT).expect("second commit");
    })
    .await
    .unwrap();
    let bs2 = bs.clone();
    let (committed, uncommitted) = tokio::task::spawn_blocking(move || {
        (consume_all(&bs2, "txn-out", 2, "read_committed", 18), consume_all(&bs2, "txn-out", 2, "read_uncommitted", 25))
    })
    .await
    .unwrap();
    let mut got: Vec<String> = committed.into_iter().map(|(_, v)| v).collect();
    got.sort();
    let mut want: Vec<String> =
        [values("committed-a", 10), values("committed-b", 5), values("committed-c", 3)].concat();
    want.sort();
    assert_eq!(got, want, "read_committed: every committed record once, no aborted one");
    let aborted_seen = uncommitted.iter().filter(|(_, v)| v.starts_with("aborted")).count();
    assert_eq!((uncommitted.len(), aborted_seen), (25, 7), "read_uncommitted sees both");
    let d = describe(&bs, "commit-abort").await;
    assert!(["CompleteCommit", "PrepareCommit"].contains(&d.transaction_state.as_str()), "{:?}", d.transaction_state);
    broker.stop().await;
}

/// send_offsets_to_transaction: the group's offsets become committed with
/// the transaction, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_send_offsets_to_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[("group.initial.rebalance.delay.ms", "0")]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "txn-in", 1).await;
    create_topic(&bs, "txn-copy", 1).await;
    let bs2 = bs.clone();
    tokio::task::spawn_blocking(move || {
        let plain: ThreadedProducer<DefaultProducerContext> =
            ClientConfig::new().set("bootstrap.servers", &bs2).create().unwrap();
        send(&plain, "txn-in", 0, values("in", 20));
        plain.flush(TIMEOUT).unwrap();
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bs2)
            .set("group.id", "copier")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create()
            .unwrap();
        consumer.subscribe(&["txn-in"]).unwrap();
        let p = txn_producer(&bs2, "copier-txn", &[]);
        p.init_transactions(TIMEOUT).unwrap();
        let mut copied = 0;
        let start = std::time::Instant::now();
        while copied < 20 {
            assert!(start.elapsed() < TIMEOUT, "copied only {copied}");
            let Some(m) = consumer.poll(Duration::from_millis(200)) else { continue };
            let m = m.unwrap();
            p.begin_transaction().unwrap();
            let v = String::from_utf8_lossy(m.payload().unwrap()).replace("in-", "out-");
            send(&p, "txn-copy", 0, [v]);
            let mut offsets = TopicPartitionList::new();
            offsets.add_partition_offset("txn-in", 0, Offset::Offset(m.offset() + 1)).unwrap();
            let meta = consumer.group_metadata().expect("group metadata");
            p.send_offsets_to_transaction(&offsets, &meta, TIMEOUT).expect("send_offsets_to_transaction");
            p.commit_transaction(TIMEOUT).expect("commit");
            copied += 1;
        }
        // The committed offset of the group is the transaction's.
        let start = std::time::Instant::now();
        loop {
            let committed = consumer.committed(TIMEOUT).unwrap();
            let off = committed.find_partition("txn-in", 0).map(|e| e.offset());
            if off == Some(Offset::Offset(20)) {
                break;
            }
            assert!(start.elapsed() < TIMEOUT, "committed offset: {off:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let bs2 = bs.clone();
    let out =
        tokio::task::spawn_blocking(move || consume_all(&bs2, "txn-copy", 1, "read_committed", 20)).await.unwrap();
    let got: Vec<String> = out.into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, values("out", 20), "one output per input");
    broker.stop().await;
}

fn is_fenced(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    match e {
        KafkaError::Transaction(t) => {
            t.is_fatal() || matches!(t.code(), C::ProducerFenced | C::InvalidProducerEpoch | C::Fenced)
        }
        _ => false,
    }
}

/// Two producers with one transactional id: the second's
/// init_transactions fences the first, whose commit then fails fatally;
/// the first's records are aborted, the second's commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_producer_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "txn-zombie", 1).await;
    let bs2 = bs.clone();
    tokio::task::spawn_blocking(move || {
        let zombie = txn_producer(&bs2, "zombie", &[]);
        zombie.init_transactions(TIMEOUT).unwrap();
        zombie.begin_transaction().unwrap();
        send(&zombie, "txn-zombie", 0, values("zombie", 5));
        zombie.flush(TIMEOUT).unwrap();
        let fresh = txn_producer(&bs2, "zombie", &[]);
        fresh.init_transactions(TIMEOUT).expect("the new producer initialises");
        fresh.begin_transaction().unwrap();
        send(&fresh, "txn-zombie", 0, values("fresh", 4));
        fresh.commit_transaction(TIMEOUT).expect("the new producer commits");
        let e = zombie.commit_transaction(TIMEOUT).expect_err("the zombie must not commit");
        assert!(is_fenced(&e), "zombie commit: {e:?}");
    })
    .await
    .unwrap();
    let bs2 = bs.clone();
    let out =
        tokio::task::spawn_blocking(move || consume_all(&bs2, "txn-zombie", 1, "read_committed", 4)).await.unwrap();
    let got: Vec<String> = out.into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, values("fresh", 4), "only the new producer's records are committed");
    broker.stop().await;
}

/// A transaction older than its timeout is aborted by the coordinator
/// (with an epoch bump), and its producer's late commit is fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker =
        TestBroker::start_in(dir.path(), &[("transaction.abort.timed.out.transaction.cleanup.interval.ms", "100")])
            .await;
    let bs = broker.bootstrap();
    create_topic(&bs, "txn-late", 1).await;
    let bs2 = bs.clone();
    let p = tokio::task::spawn_blocking(move || {
        let p = txn_producer(&bs2, "late", &[("transaction.timeout.ms", "1000")]);
        p.init_transactions(TIMEOUT).unwrap();
        p.begin_transaction().unwrap();
        send(&p, "txn-late", 0, values("late", 3));
        p.flush(TIMEOUT).unwrap();
        p
    })
    .await
    .unwrap();
    let start = std::time::Instant::now();
    loop {
        let d = describe(&bs, "late").await;
        if d.transaction_state.as_str() == "CompleteAbort" {
            assert_eq!(d.producer_epoch, 1, "the abort bumped the epoch");
            break;
        }
        assert!(start.elapsed() < TIMEOUT, "never aborted: {:?}", d.transaction_state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = tokio::task::spawn_blocking(move || p.commit_transaction(TIMEOUT)).await.unwrap().expect_err("late commit");
    assert!(is_fenced(&e), "late commit: {e:?}");
    let bs2 = bs.clone();
    let out = tokio::task::spawn_blocking(move || consume_all(&bs2, "txn-late", 1, "read_committed", 0)).await.unwrap();
    assert!(out.is_empty(), "nothing of the aborted transaction: {out:?}");
    broker.stop().await;
}

/// KIP-890: a transactional batch for a partition its producer never added
/// to the transaction is refused (INVALID_TXN_STATE) and nothing is
/// written; once the partition is added, the same batch is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_for_a_partition_not_in_the_transaction_is_refused() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
    use weir::record::records::{BatchBuilder, Record};
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let addr = broker.bootstrap();
    create_topic(&addr, "txn-verify", 1).await;
    let id = "verify-txn";
    let (pid, epoch) = init_producer_id(&addr, id).await;
    let batch = {
        let mut b = BatchBuilder::new(0, 1).producer(pid, epoch, 0).transactional(true);
        b.push(Record::new(None, Some(b"unverified".to_vec()), 1));
        b.build()
    };
    let produce = |records: bytes::Bytes| {
        ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(s("txn-verify")))
                .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))])])
    };
    let mut c = connect(&addr).await;
    let r: ProduceResponse = c.send(ApiKey::Produce, 9, &produce(batch.clone())).await.expect("Produce");
    let code = r.responses[0].partition_responses[0].error_code;
    assert_eq!(code, E::InvalidTxnState.code(), "a partition not in the transaction");
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s("txn-verify")))
            .with_partitions(vec![0])]);
    let _: AddPartitionsToTxnResponse = c.send(ApiKey::AddPartitionsToTxn, 3, &req).await.expect("AddPartitionsToTxn");
    let r: ProduceResponse = c.send(ApiKey::Produce, 9, &produce(batch)).await.expect("Produce");
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0), "the refused batch wrote nothing: the accepted one is at 0");
    broker.stop().await;
}
