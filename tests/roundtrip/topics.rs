//! Round trips: Topic admin: CreateTopics (validate-only, error codes), DeleteTopics, DeleteRecords.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// CreateTopics
// ---------------------------------------------------------------------------

pub(crate) async fn round_trip_create_topics(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-create-v{v}");
        let resp = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[("retention.ms", "1234")])], false).await;
        assert_eq!(resp.topics.len(), 1);
        let r = &resp.topics[0];
        assert_eq!(r.name.0.as_str(), name);
        assert_eq!(r.error_code, NONE, "CreateTopics v{v}: {:?}", r.error_message);
        if v >= 5 {
            assert_eq!(r.num_partitions, 3, "v{v}: num_partitions");
            assert_eq!(r.replication_factor, 1, "v{v}: replication_factor");
            assert_eq!(r.topic_config_error_code, NONE);
            let configs = r.configs.as_ref().expect("v5+ returns configs");
            let retention =
                configs.iter().find(|c| c.name.as_str() == "retention.ms").expect("retention.ms in configs");
            assert_eq!(retention.value.as_deref(), Some("1234"), "v{v}");
            assert_eq!(retention.config_source, DYNAMIC_TOPIC_CONFIG, "v{v}: retention.ms source");
            let segment =
                configs.iter().find(|c| c.name.as_str() == "segment.bytes").expect("segment.bytes in configs");
            assert_eq!(segment.value.as_deref(), Some("1073741824"));
            assert_eq!(segment.config_source, DEFAULT_CONFIG, "v{v}: segment.bytes source");
        }
        let meta = topic_metadata(&mut c, &name).await;
        assert_topic(&meta, &name, 3, 12);
        if v >= 7 {
            assert!(!r.topic_id.is_nil(), "v{v}: topic id");
            assert_eq!(r.topic_id, meta.topic_id, "v{v}: CreateTopics and Metadata agree on the id");
        }

        // The same name again.
        let again = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[])], false).await;
        let r = &again.topics[0];
        assert_eq!(r.error_code, E::TopicAlreadyExists.code(), "v{v}: repeat");
        assert!(r.error_message.as_ref().is_some_and(|m| !m.is_empty()), "v{v}: error message");
        if v >= 5 {
            assert_eq!((r.num_partitions, r.replication_factor), (-1, -1), "v{v}: failed result fields");
        }
    }
}

#[tokio::test]
pub(crate) async fn create_topics_validate_only_creates_nothing() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::CreateTopics) {
        let name = format!("rt-validate-v{v}");
        let resp = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[("retention.ms", "1234")])], true).await;
        let r = &resp.topics[0];
        assert_eq!(r.error_code, NONE, "v{v}: {:?}", r.error_message);
        if v >= 5 {
            assert_eq!((r.num_partitions, r.replication_factor), (3, 1), "v{v}");
        }
        assert_eq!(
            topic_metadata(&mut c, &name).await.error_code,
            E::UnknownTopicOrPartition.code(),
            "v{v}: validate_only created {name}"
        );
        // Validation still applies.
        let bad = create_topics(&mut c, v, vec![creatable(&name, 0, 1, &[])], true).await;
        assert_eq!(bad.topics[0].error_code, E::InvalidPartitions.code(), "v{v}");
    }
    env.stop().await;
}

#[tokio::test]
pub(crate) async fn create_topics_rejects_invalid_requests_with_kafka_codes() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let long_name = "x".repeat(250);
    for v in advertised(ApiKey::CreateTopics) {
        let cases: Vec<(CreatableTopic, i16)> = vec![
            (creatable("a b", 1, 1, &[]), E::InvalidTopicException.code()),
            (creatable("..", 1, 1, &[]), E::InvalidTopicException.code()),
            (creatable(".", 1, 1, &[]), E::InvalidTopicException.code()),
            (creatable(&long_name, 1, 1, &[]), E::InvalidTopicException.code()),
            (creatable(&format!("rt-zero-v{v}"), 0, 1, &[]), E::InvalidPartitions.code()),
            (creatable(&format!("rt-rf3-v{v}"), 1, 3, &[]), E::InvalidReplicationFactor.code()),
            (creatable(&format!("rt-unknown-config-v{v}"), 1, 1, &[("no.such.config", "1")]), E::InvalidConfig.code()),
            (creatable(&format!("rt-bad-value-v{v}"), 1, 1, &[("retention.ms", "forever")]), E::InvalidConfig.code()),
            (creatable(&format!("rt-bad-policy-v{v}"), 1, 1, &[("cleanup.policy", "shred")]), E::InvalidConfig.code()),
        ];
        let names: Vec<String> = cases.iter().map(|(t, _)| t.name.0.to_string()).collect();
        let resp = create_topics(&mut c, v, cases.iter().map(|(t, _)| t.clone()).collect(), false).await;
        assert_eq!(resp.topics.len(), cases.len());
        for ((topic, expected), r) in cases.iter().zip(&resp.topics) {
            assert_eq!(r.name, topic.name, "v{v}: results in request order");
            assert_eq!(
                r.error_code,
                *expected,
                "CreateTopics v{v} {}: {:?}",
                &topic.name.0[..topic.name.0.len().min(40)],
                r.error_message
            );
            assert_failed_result(r, v);
        }
        for n in names.iter().filter(|n| n.starts_with("rt-")) {
            assert_eq!(
                topic_metadata(&mut c, n).await.error_code,
                E::UnknownTopicOrPartition.code(),
                "v{v}: {n} was created"
            );
        }
    }
    env.stop().await;
}

pub(crate) fn assert_failed_result(r: &CreatableTopicResult, v: i16) {
    assert!(r.error_message.as_ref().is_some_and(|m| !m.is_empty()), "v{v}: failed results carry a message");
    if v >= 7 {
        assert!(r.topic_id.is_nil(), "v{v}: failed result has no topic id");
    }
}

// ---------------------------------------------------------------------------
// DeleteTopics
// ---------------------------------------------------------------------------

pub(crate) async fn delete_topics(c: &mut BrokerClient, v: i16, names: &[&str], ids: &[Uuid]) -> DeleteTopicsResponse {
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
    if v >= 6 {
        req.topics = names
            .iter()
            .map(|n| DeleteTopicState::default().with_name(Some(tn(n))))
            .chain(ids.iter().map(|id| DeleteTopicState::default().with_name(None).with_topic_id(*id)))
            .collect();
    } else {
        assert!(ids.is_empty(), "DeleteTopics by id needs v6");
        req.topic_names = names.iter().map(|n| tn(n)).collect();
    }
    c.send(ApiKey::DeleteTopics, v, &req).await.unwrap_or_else(|e| panic!("DeleteTopics v{v}: {e}"))
}

pub(crate) async fn round_trip_delete_topics(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-delete-v{v}");
        let id = create_topic(&mut c, &name, 2, &[]).await;
        let resp = delete_topics(&mut c, v, &[&name], &[]).await;
        assert_eq!(resp.responses.len(), 1);
        let r = &resp.responses[0];
        assert_eq!(r.error_code, NONE, "DeleteTopics v{v}: {:?}", r.error_message);
        assert_eq!(r.name.as_ref().map(|n| n.0.as_str()), Some(name.as_str()));
        if v >= 6 {
            assert_eq!(r.topic_id, id, "v{v}: deleted topic's id");
        }
        wait_until_unknown(addr, &name).await;

        let resp = delete_topics(&mut c, v, &[&format!("rt-never-created-v{v}")], &[]).await;
        assert_eq!(resp.responses[0].error_code, E::UnknownTopicOrPartition.code(), "v{v}: unknown name");

        if v >= 6 {
            let name = format!("rt-delete-by-id-v{v}");
            let id = create_topic(&mut c, &name, 1, &[]).await;
            let resp = delete_topics(&mut c, v, &[], &[id]).await;
            let r = &resp.responses[0];
            assert_eq!(r.error_code, NONE, "v{v} by id: {:?}", r.error_message);
            assert_eq!(r.topic_id, id);
            assert_eq!(r.name.as_ref().map(|n| n.0.as_str()), Some(name.as_str()), "v{v}: by id answers the name");
            wait_until_unknown(addr, &name).await;

            let resp = delete_topics(&mut c, v, &[], &[Uuid::new_v4()]).await;
            assert_eq!(resp.responses[0].error_code, E::UnknownTopicId.code(), "v{v}: unknown id");
        }
    }
}

// ---------------------------------------------------------------------------
// DeleteRecords
// ---------------------------------------------------------------------------

pub(crate) async fn delete_records(
    c: &mut BrokerClient,
    v: i16,
    topic: &str,
    offset: i64,
) -> DeleteRecordsPartitionResult {
    let req = DeleteRecordsRequest::default().with_timeout_ms(10_000).with_topics(vec![DeleteRecordsTopic::default()
        .with_name(tn(topic))
        .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(offset)])]);
    let resp: DeleteRecordsResponse =
        c.send(ApiKey::DeleteRecords, v, &req).await.unwrap_or_else(|e| panic!("DeleteRecords v{v}: {e}"));
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].name.0.as_str(), topic);
    assert_eq!(resp.topics[0].partitions.len(), 1);
    let p = resp.topics[0].partitions[0].clone();
    assert_eq!(p.partition_index, 0);
    p
}

pub(crate) async fn round_trip_delete_records(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-delete-records-v{v}");
        let id = create_topic(&mut c, &topic, 1, &[]).await;
        produce_ok(&mut c, &topic, batch(&["r0", "r1"], now_ms())).await;
        produce_ok(&mut c, &topic, batch(&["r2", "r3", "r4"], now_ms())).await;

        let p = delete_records(&mut c, v, &topic, 2).await;
        assert_eq!((p.error_code, p.low_watermark), (NONE, 2), "DeleteRecords v{v} to 2");
        let earliest = list_offset(&mut c, 7, &topic, EARLIEST).await;
        assert_eq!(earliest.offset, 2, "v{v}: ListOffsets earliest after DeleteRecords");
        let below = fetch(&mut c, 12, &topic, id, 0).await;
        assert_eq!(below.error_code, E::OffsetOutOfRange.code(), "v{v}: fetch below the log start");
        let from = fetch(&mut c, 12, &topic, id, 2).await;
        assert_eq!(from.log_start_offset, 2);
        let values: Vec<String> = fetched_records(&from).iter().map(value_of).collect();
        assert_eq!(values, ["r2", "r3", "r4"], "v{v}: what is left");

        // Moving backwards is a no-op that reports the current start.
        let p = delete_records(&mut c, v, &topic, 1).await;
        assert_eq!((p.error_code, p.low_watermark), (NONE, 2), "DeleteRecords v{v} to 1");
        // -1: up to the high watermark.
        let p = delete_records(&mut c, v, &topic, -1).await;
        assert_eq!((p.error_code, p.low_watermark), (NONE, 5), "DeleteRecords v{v} to -1");
        assert_eq!(list_offset(&mut c, 7, &topic, EARLIEST).await.offset, 5);
        // Beyond the high watermark.
        let p = delete_records(&mut c, v, &topic, 6).await;
        assert_eq!(
            (p.error_code, p.low_watermark),
            (E::OffsetOutOfRange.code(), -1),
            "DeleteRecords v{v} past the end"
        );

        let p = delete_records(&mut c, v, "rt-no-such-topic", 0).await;
        assert_eq!((p.error_code, p.low_watermark), (E::UnknownTopicOrPartition.code(), -1), "v{v}: unknown topic");
    }
}
