//! Round trips: Configs: AlterConfigs, IncrementalAlterConfigs and DescribeConfigs of topics and brokers.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// AlterConfigs and IncrementalAlterConfigs
// ---------------------------------------------------------------------------

/// AlterConfigs of one resource; returns (error code, message).
pub(crate) async fn alter_configs(
    c: &mut BrokerClient,
    v: i16,
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = AlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default().with_resource_type(resource_type).with_resource_name(s(name)).with_configs(
            configs
                .iter()
                .map(|(k, val)| AlterableConfig::default().with_name(s(k)).with_value(Some(s(val))))
                .collect(),
        ),
    ]);
    let resp: AlterConfigsResponse =
        c.send(ApiKey::AlterConfigs, v, &req).await.unwrap_or_else(|e| panic!("AlterConfigs v{v}: {e}"));
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!((r.resource_type, r.resource_name.as_str()), (resource_type, name));
    (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
}

pub(crate) const SET: i8 = 0;
pub(crate) const DELETE: i8 = 1;
pub(crate) const APPEND: i8 = 2;
pub(crate) const SUBTRACT: i8 = 3;

/// IncrementalAlterConfigs of one resource; returns (error code, message).
pub(crate) async fn incremental_alter(
    c: &mut BrokerClient,
    v: i16,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        incremental::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                ops.iter()
                    .map(|(k, op, val)| {
                        incremental::AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(*op)
                            .with_value(val.map(s))
                    })
                    .collect(),
            ),
    ]);
    let resp: IncrementalAlterConfigsResponse = c
        .send(ApiKey::IncrementalAlterConfigs, v, &req)
        .await
        .unwrap_or_else(|e| panic!("IncrementalAlterConfigs v{v}: {e}"));
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!((r.resource_type, r.resource_name.as_str()), (resource_type, name));
    (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
}

/// (value, source) of one config of a resource (DescribeConfigs v4).
pub(crate) async fn described(c: &mut BrokerClient, resource_type: i8, name: &str, key: &str) -> (Option<String>, i8) {
    let r = describe_configs(c, 4, resource_type, name, Some(&[key]), false).await;
    assert_eq!(r.error_code, NONE, "DescribeConfigs {name}: {:?}", r.error_message);
    let e = config(&r, key);
    (e.value.as_ref().map(|v| v.to_string()), e.config_source)
}

pub(crate) fn dynamic(v: &str) -> (Option<String>, i8) {
    (Some(v.to_string()), DYNAMIC_TOPIC_CONFIG)
}

pub(crate) fn default_value(v: &str) -> (Option<String>, i8) {
    (Some(v.to_string()), DEFAULT_CONFIG)
}

pub(crate) async fn round_trip_alter_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-alter-v{v}");
        create_topic(&mut c, &topic, 1, &[("retention.ms", "1234")]).await;
        let big = "x".repeat(2048);

        let set = [("retention.ms", "5000"), ("max.message.bytes", "1024")];
        assert_eq!(
            alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &set, false).await,
            (NONE, None),
            "AlterConfigs v{v}"
        );
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await, dynamic("5000"), "v{v}");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await, dynamic("1024"), "v{v}");
        // Applied to the live log.
        let p = produce(&mut c, 9, 1, &topic, 0, batch(&[&big], now_ms())).await;
        assert_eq!(p.error_code, E::MessageTooLarge.code(), "v{v}: max.message.bytes=1024 is enforced");

        // AlterConfigs replaces the whole set of dynamic configs.
        let set = [("segment.bytes", "2097152")];
        assert_eq!(alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &set, false).await.0, NONE, "v{v}");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "segment.bytes").await, dynamic("2097152"), "v{v}");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: replaced"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await,
            default_value("1048588"),
            "v{v}: replaced"
        );
        let p = produce(&mut c, 9, 1, &topic, 0, batch(&[&big], now_ms())).await;
        assert_eq!(p.error_code, NONE, "v{v}: the default max.message.bytes applies again");

        // validate_only changes nothing.
        let (code, _) = alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", "1")], true).await;
        assert_eq!(code, NONE, "v{v}: validate_only");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: validate_only"
        );

        // Errors leave the configs as they were.
        for bad in [[("retention.ms", "soon")], [("no.such.config", "1")]] {
            let (code, msg) = alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &bad, false).await;
            assert_eq!(code, E::InvalidConfig.code(), "v{v}: {bad:?}");
            assert!(msg.is_some_and(|m| !m.is_empty()), "v{v}: error message");
        }
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "segment.bytes").await,
            dynamic("2097152"),
            "v{v}: unchanged by errors"
        );
        let (code, _) =
            alter_configs(&mut c, v, RESOURCE_TOPIC, "rt-no-such-topic", &[("retention.ms", "1")], false).await;
        assert_eq!(code, E::UnknownTopicOrPartition.code(), "v{v}: unknown topic");
    }
}

pub(crate) async fn round_trip_incremental_alter_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-incremental-v{v}");
        create_topic(&mut c, &topic, 1, &[]).await;
        let ok = (NONE, None);

        let r =
            incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", SET, Some("7000"))], false).await;
        assert_eq!(r, ok, "IncrementalAlterConfigs v{v} SET");
        let r =
            incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("max.message.bytes", SET, Some("4096"))], false)
                .await;
        assert_eq!(r, ok, "v{v} SET");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await, dynamic("7000"), "v{v}: kept");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await, dynamic("4096"), "v{v}");

        let r = incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", DELETE, None)], false).await;
        assert_eq!(r, ok, "v{v} DELETE");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: deleted"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await,
            dynamic("4096"),
            "v{v}: untouched"
        );

        let r =
            incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("cleanup.policy", APPEND, Some("compact"))], false)
                .await;
        assert_eq!(r, ok, "v{v} APPEND");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "cleanup.policy").await,
            dynamic("delete,compact"),
            "v{v}"
        );
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("cleanup.policy", SUBTRACT, Some("delete"))],
            false,
        )
        .await;
        assert_eq!(r, ok, "v{v} SUBTRACT");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "cleanup.policy").await, dynamic("compact"), "v{v}");

        // validate_only changes nothing.
        let r = incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", SET, Some("1"))], true).await;
        assert_eq!(r, ok, "v{v}: validate_only");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: validate_only"
        );

        // Errors.
        let cases: [(&str, i8, Option<&str>); 3] = [
            ("retention.ms", APPEND, Some("1")),
            ("retention.ms", SET, Some("soon")),
            ("no.such.config", SET, Some("1")),
        ];
        for case in cases {
            let (code, msg) = incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[case], false).await;
            assert_eq!(code, E::InvalidConfig.code(), "v{v}: {case:?}");
            assert!(msg.is_some_and(|m| !m.is_empty()), "v{v}: error message");
        }
        let (code, _) = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            "rt-no-such-topic",
            &[("retention.ms", SET, Some("1"))],
            false,
        )
        .await;
        assert_eq!(code, E::UnknownTopicOrPartition.code(), "v{v}: unknown topic");

        // A per-broker dynamic config: seen on the broker and, through the
        // synonym, on topics without an override.
        let broker = NODE_ID.to_string();
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_BROKER,
            &broker,
            &[("log.retention.ms", SET, Some("123456789"))],
            false,
        )
        .await;
        assert_eq!(r, ok, "v{v}: broker SET");
        assert_eq!(
            described(&mut c, RESOURCE_BROKER, &broker, "log.retention.ms").await,
            (Some("123456789".into()), DYNAMIC_BROKER_CONFIG),
            "v{v}: broker config"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            (Some("123456789".into()), DYNAMIC_BROKER_CONFIG),
            "v{v}: topic default follows the broker"
        );
        let r =
            incremental_alter(&mut c, v, RESOURCE_BROKER, &broker, &[("log.retention.ms", DELETE, None)], false).await;
        assert_eq!(r, ok, "v{v}: broker DELETE");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await, default_value("604800000"), "v{v}");
    }
}

// ---------------------------------------------------------------------------
// DescribeConfigs
// ---------------------------------------------------------------------------

pub(crate) async fn round_trip_describe_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-describe-configs";
    create_topic(&mut c, topic, 1, &[("retention.ms", "1234")]).await;
    for v in versions {
        let r = describe_configs(&mut c, v, RESOURCE_TOPIC, topic, None, true).await;
        assert_eq!(r.error_code, NONE, "DescribeConfigs v{v}: {:?}", r.error_message);
        let names: HashSet<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), r.configs.len(), "v{v}: each config once");
        let expected: BTreeMap<&str, (&str, i8, i8)> = [
            ("retention.ms", ("1234", DYNAMIC_TOPIC_CONFIG, TYPE_LONG)),
            // A new cluster (ELR on) records min.insync.replicas at cluster
            // level, which topics then inherit (Kafka 4.1).
            ("min.insync.replicas", ("1", DYNAMIC_DEFAULT_BROKER_CONFIG, TYPE_INT)),
            ("segment.bytes", ("1073741824", DEFAULT_CONFIG, TYPE_INT)),
            ("cleanup.policy", ("delete", DEFAULT_CONFIG, TYPE_LIST)),
            ("max.message.bytes", ("1048588", DEFAULT_CONFIG, TYPE_INT)),
            ("message.timestamp.type", ("CreateTime", DEFAULT_CONFIG, TYPE_STRING)),
        ]
        .into_iter()
        .collect();
        for (name, (value, source, ty)) in &expected {
            let e = config(&r, name);
            assert_eq!(e.value.as_deref(), Some(*value), "v{v}: {name}");
            assert_eq!(e.config_source, *source, "v{v}: {name} source");
            assert!(!e.is_sensitive && !e.read_only, "v{v}: {name} flags");
            if v >= 3 {
                assert_eq!(e.config_type, *ty, "v{v}: {name} type");
                assert!(e.documentation.as_ref().is_some_and(|d| !d.is_empty()), "v{v}: {name} documentation");
            }
            // Synonyms, most specific first, ending at the default; except
            // retention.ms, whose broker synonyms Kafka lists only from a
            // set log.retention.ms on (log.retention.hours's default is not
            // listed when none is set).
            assert!(!e.synonyms.is_empty(), "v{v}: {name} synonyms");
            if *name != "retention.ms" {
                assert!(e.synonyms.iter().any(|s| s.source == DEFAULT_CONFIG), "v{v}: {name} default synonym");
            } else {
                assert_eq!(e.synonyms.len(), 1, "v{v}: {name} synonyms");
            }
        }
        let retention = config(&r, "retention.ms");
        let first = &retention.synonyms[0];
        assert_eq!(
            (first.name.as_str(), first.value.as_deref(), first.source),
            ("retention.ms", Some("1234"), DYNAMIC_TOPIC_CONFIG),
            "v{v}"
        );
        let segment = config(&r, "segment.bytes");
        assert!(
            segment
                .synonyms
                .iter()
                .any(|s| s.name.as_str() == "log.segment.bytes" && s.value.as_deref() == Some("1073741824")),
            "v{v}: segment.bytes synonym log.segment.bytes"
        );

        // Without synonyms; with a key filter.
        let r =
            describe_configs(&mut c, v, RESOURCE_TOPIC, topic, Some(&["retention.ms", "segment.bytes"]), false).await;
        assert_eq!(r.error_code, NONE);
        let mut names: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["retention.ms", "segment.bytes"], "v{v}: configuration_keys filter");
        assert!(r.configs.iter().all(|c| c.synonyms.is_empty()), "v{v}: no synonyms unless asked");

        // The broker.
        let r = describe_configs(&mut c, v, RESOURCE_BROKER, &NODE_ID.to_string(), None, true).await;
        assert_eq!(r.error_code, NONE, "v{v}: broker configs: {:?}", r.error_message);
        let max_bytes = config(&r, "socket.request.max.bytes");
        assert_eq!((max_bytes.value.as_deref(), max_bytes.config_source), (Some("104857600"), DEFAULT_CONFIG), "v{v}");
        let log_dirs = config(&r, "log.dirs");
        assert_eq!(log_dirs.config_source, STATIC_BROKER_CONFIG, "v{v}: log.dirs is set in the broker's properties");
        assert_eq!(config(&r, "num.partitions").value.as_deref(), Some("1"));

        // Unknown topic.
        let r = describe_configs(&mut c, v, RESOURCE_TOPIC, "rt-no-such-topic", None, false).await;
        assert_eq!(r.error_code, E::UnknownTopicOrPartition.code(), "v{v}: unknown topic");
        assert!(r.configs.is_empty());
    }
}
