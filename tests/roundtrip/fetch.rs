//! Round trips: Fetch and ListOffsets: reading back what was produced, unknown topics by version.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// Fetch
// ---------------------------------------------------------------------------

pub(crate) async fn round_trip_fetch(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-fetch";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let values = ["f0", "f1", "f2", "f3", "f4", "f5"];
    for pair in values.chunks(2) {
        produce_ok(&mut c, topic, batch(pair, now_ms())).await;
    }
    for v in versions {
        let p = fetch(&mut c, v, topic, id, 0).await;
        assert_eq!(p.error_code, NONE, "Fetch v{v}");
        assert_eq!(p.high_watermark, 6, "v{v}: high watermark");
        assert_eq!(p.last_stable_offset, 6, "v{v}: last stable offset");
        if v >= 5 {
            assert_eq!(p.log_start_offset, 0, "v{v}: log start offset");
        }
        let records = fetched_records(&p);
        let got: Vec<String> = records.iter().map(value_of).collect();
        assert_eq!(got, values, "Fetch v{v} from 0");
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..6).collect::<Vec<_>>());

        // From the middle: the batch holding offset 2 onwards.
        let p = fetch(&mut c, v, topic, id, 2).await;
        let records = fetched_records(&p);
        assert_eq!(records.first().map(|r| r.offset), Some(2), "Fetch v{v} from 2");
        assert_eq!(records.iter().map(value_of).collect::<Vec<_>>(), &values[2..]);

        // At the end: nothing, after at most max_wait_ms.
        let p = fetch(&mut c, v, topic, id, 6).await;
        assert_eq!(p.error_code, NONE);
        assert!(fetched_records(&p).is_empty(), "Fetch v{v} at the log end");

        // Past the end.
        let p = fetch(&mut c, v, topic, id, 7).await;
        assert_eq!(p.error_code, E::OffsetOutOfRange.code(), "Fetch v{v} past the log end");
    }
}

#[tokio::test]
pub(crate) async fn fetch_unknown_topics_answer_by_version() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Fetch) {
        let resp: FetchResponse =
            c.send(ApiKey::Fetch, v, &fetch_request(v, "rt-no-such-topic", Uuid::new_v4(), 0, 0, 0)).await.unwrap();
        let code = resp.responses[0].partitions[0].error_code;
        let expected = if v >= 13 { E::UnknownTopicId.code() } else { E::UnknownTopicOrPartition.code() };
        assert_eq!(code, expected, "Fetch v{v} of an unknown topic");
    }
    env.stop().await;
}

// ---------------------------------------------------------------------------
// ListOffsets
// ---------------------------------------------------------------------------

pub(crate) async fn round_trip_list_offsets(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-list-offsets";
    create_topic(&mut c, topic, 1, &[]).await;
    let base = now_ms() - 60_000;
    // Offsets 0..=4; the largest timestamp is at offset 2, not at the end.
    produce_ok(&mut c, topic, batch_at([("a", base), ("b", base + 10), ("c", base + 100)])).await;
    produce_ok(&mut c, topic, batch_at([("d", base + 20), ("e", base + 30)])).await;
    let epoch = topic_metadata(&mut c, topic).await.partitions[0].leader_epoch;
    for v in versions {
        let p = list_offset(&mut c, v, topic, EARLIEST).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 0, -1), "ListOffsets v{v} earliest");

        let p = list_offset(&mut c, v, topic, LATEST).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 5, -1), "ListOffsets v{v} latest");
        if v >= 4 {
            assert_eq!(p.leader_epoch, epoch, "v{v}: latest carries the leader epoch");
        }

        let p = list_offset(&mut c, v, topic, base).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 0, base), "ListOffsets v{v} at the first timestamp");

        let p = list_offset(&mut c, v, topic, base + 5).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 1, base + 10), "ListOffsets v{v} by timestamp");
        if v >= 4 {
            assert_eq!(p.leader_epoch, epoch, "v{v}: epoch of the found batch");
        }

        let p = list_offset(&mut c, v, topic, base + 101).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, -1, -1), "ListOffsets v{v} after every timestamp");

        if v >= 7 {
            let p = list_offset(&mut c, v, topic, MAX_TIMESTAMP).await;
            assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 2, base + 100), "ListOffsets v{v} max timestamp");
        }
    }
}

#[tokio::test]
pub(crate) async fn list_offsets_of_an_unknown_topic() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::ListOffsets) {
        let p = list_offset(&mut c, v, "rt-no-such-topic", LATEST).await;
        assert_eq!(p.error_code, E::UnknownTopicOrPartition.code(), "ListOffsets v{v}");
        assert_eq!(p.offset, -1);
    }
    env.stop().await;
}
