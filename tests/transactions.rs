//! The transaction coordinator against real clients and real broker
//! processes: the state in `__transaction_state` read back after a kill -9
//! (and through `weir dump-log --transaction-log-decoder`), rdkafka's
//! transactional producer (commit, abort, send_offsets_to_transaction),
//! zombie fencing with two producers of one transactional id, and the
//! abort of a transaction that outlived its timeout, whose late producer
//! is then fenced.

mod common;

use std::time::Duration;

use common::BrokerProcess;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, DescribeTransactionsRequest,
    DescribeTransactionsResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
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
