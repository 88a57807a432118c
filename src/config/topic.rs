//! Per-topic configuration (Kafka's `LogConfig`): resolved from the topic's
//! overrides, then the broker's synonyms, then Kafka's defaults; and the
//! DescribeConfigs view of the same with sources and synonyms.

use std::collections::BTreeMap;

use super::defs::{self, ConfigType, TOPIC_CONFIGS};
use super::BrokerConfig;

/// DescribeConfigs `config_source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// One described config entry.
#[derive(Debug, Clone)]
pub struct DescribedConfig {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub ty: ConfigType,
    pub doc: &'static str,
    /// (name, value, source), most specific first.
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Resolved, typed topic configuration. Invariant: every field holds a
/// value that passed [`defs::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub segment_jitter_ms: i64,
    pub segment_index_bytes: u64,
    pub index_interval_bytes: u64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub retention_bytes: i64,
    pub retention_ms: i64,
    pub max_message_bytes: i32,
    pub delete_retention_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub file_delete_delay_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    pub cleanup_policy: CleanupPolicy,
    pub unclean_leader_election_enable: bool,
    pub min_insync_replicas: i32,
    pub compression_type: String,
    pub message_timestamp_type: TimestampType,
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_after_max_ms: i64,
    pub preallocate: bool,
}

/// Where a topic config's effective value comes from: the topic override,
/// then each broker synonym through the broker's layers, then the default.
fn effective(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    def: &defs::TopicConfigDef,
) -> (Option<String>, ConfigSource) {
    if let Some(v) = overrides.get(def.def.name) {
        return (Some(v.clone()), ConfigSource::DynamicTopicConfig);
    }
    for (syn, unit) in def.synonyms {
        if let Some((v, source)) = broker.layered(syn) {
            return (Some(unit.convert(v)), source);
        }
    }
    (def.def.default.map(str::to_string), ConfigSource::DefaultConfig)
}

/// The definition of topic config `name`, read through `accessor`, which
/// expects one of the types `allowed` (empty: any). An undefined name or a
/// type mismatch panics in debug builds and is logged once in release (as
/// [`super::report_config_misuse`]); the reader then falls back.
fn checked_topic_def(name: &str, accessor: &str, allowed: &[ConfigType]) -> Option<&'static defs::TopicConfigDef> {
    let def = defs::topic_def(name);
    let problem = match def {
        None => Some(format!("undefined topic config {name:?} read with {accessor}()")),
        Some(d) if !allowed.is_empty() && !allowed.contains(&d.def.ty) => {
            Some(format!("topic config {name:?} of type {:?} read with {accessor}()", d.def.ty))
        }
        Some(_) => None,
    };
    if let Some(problem) = problem {
        super::report_config_misuse(problem);
    }
    def
}

impl LogConfig {
    /// Resolves the topic's effective configuration.
    pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
        // Each reader checks that the key is a topic config of its type
        // (see `checked_topic_def`).
        let read = |name: &str, accessor: &str, allowed: &[ConfigType]| -> String {
            match checked_topic_def(name, accessor, allowed) {
                Some(def) => effective(broker, overrides, def).0.unwrap_or_default(),
                None => String::new(),
            }
        };
        let get = |name: &str| read(name, "get", &[]);
        let long = |name: &str| read(name, "long", &[ConfigType::Long]).trim().parse::<i64>().unwrap_or(i64::MAX);
        let int = |name: &str| read(name, "int", &[ConfigType::Int]).trim().parse::<i32>().unwrap_or(i32::MAX);
        let boolean = |name: &str| read(name, "boolean", &[ConfigType::Boolean]).trim().eq_ignore_ascii_case("true");
        let double = |name: &str, fallback: f64| {
            read(name, "double", &[ConfigType::Double]).trim().parse::<f64>().unwrap_or(fallback)
        };
        let policy = get("cleanup.policy");
        let items: Vec<&str> = policy.split(',').map(str::trim).collect();
        LogConfig {
            segment_bytes: int("segment.bytes") as u64,
            segment_ms: long("segment.ms"),
            segment_jitter_ms: long("segment.jitter.ms"),
            segment_index_bytes: int("segment.index.bytes") as u64,
            index_interval_bytes: int("index.interval.bytes") as u64,
            flush_messages: long("flush.messages"),
            flush_ms: long("flush.ms"),
            retention_bytes: long("retention.bytes"),
            retention_ms: long("retention.ms"),
            max_message_bytes: int("max.message.bytes"),
            delete_retention_ms: long("delete.retention.ms"),
            min_compaction_lag_ms: long("min.compaction.lag.ms"),
            max_compaction_lag_ms: long("max.compaction.lag.ms"),
            file_delete_delay_ms: long("file.delete.delay.ms"),
            min_cleanable_dirty_ratio: double("min.cleanable.dirty.ratio", 0.5),
            cleanup_policy: CleanupPolicy { delete: items.contains(&"delete"), compact: items.contains(&"compact") },
            unclean_leader_election_enable: boolean("unclean.leader.election.enable"),
            min_insync_replicas: int("min.insync.replicas"),
            compression_type: get("compression.type").trim().to_ascii_lowercase(),
            message_timestamp_type: if get("message.timestamp.type").trim() == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            message_timestamp_before_max_ms: long("message.timestamp.before.max.ms"),
            message_timestamp_after_max_ms: long("message.timestamp.after.max.ms"),
            preallocate: boolean("preallocate"),
        }
    }

    /// Validates topic overrides: unknown names and bad values are
    /// INVALID_CONFIG with Kafka-style messages.
    pub fn validate_overrides(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Result<(), String> {
        for (name, value) in overrides {
            let def = defs::topic_def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
            defs::validate(&def.def, value)?;
        }
        // Broker-level defaults reached through synonyms must be valid too.
        for def in TOPIC_CONFIGS {
            if let (Some(v), source) = effective(broker, overrides, def) {
                if source != ConfigSource::DefaultConfig && source != ConfigSource::DynamicTopicConfig {
                    defs::validate(&def.def, &v)?;
                }
            }
        }
        Ok(())
    }

    /// Every topic config with value, source and synonyms (DescribeConfigs).
    pub fn describe(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Vec<DescribedConfig> {
        TOPIC_CONFIGS
            .iter()
            .map(|def| {
                let (value, _) = effective(broker, overrides, def);
                // Kafka's ConfigHelper.createTopicConfigEntry: the topic's own
                // value, then the broker synonyms (see
                // BrokerConfig::config_synonyms); the source is the first's.
                let mut synonyms = Vec::new();
                if let Some(v) = overrides.get(def.def.name) {
                    synonyms.push((def.def.name.to_string(), Some(v.clone()), ConfigSource::DynamicTopicConfig));
                }
                let names: Vec<&str> = def.synonyms.iter().map(|(n, _)| *n).collect();
                if let Some(primary) = names.first() {
                    synonyms.extend(broker.config_synonyms(primary, &names));
                }
                let source = synonyms.first().map_or(ConfigSource::DefaultConfig, |(_, _, s)| *s);
                DescribedConfig {
                    name: def.def.name.to_string(),
                    value,
                    source,
                    read_only: false,
                    sensitive: false,
                    ty: def.def.ty,
                    doc: def.def.doc,
                    synonyms,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_resolve_to_kafkas() {
        let c = LogConfig::resolve(&BrokerConfig::default(), &BTreeMap::new());
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.min_insync_replicas, 1);
        assert_eq!(c.cleanup_policy, CleanupPolicy { delete: true, compact: false });
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.flush_messages, i64::MAX);
    }

    #[test]
    fn broker_synonyms_then_overrides() {
        let broker =
            BrokerConfig::from_props(map(&[("log.retention.hours", "1"), ("log.segment.bytes", "2097152")])).unwrap();
        let c = LogConfig::resolve(&broker, &BTreeMap::new());
        assert_eq!(c.retention_ms, 3_600_000);
        assert_eq!(c.segment_bytes, 2_097_152);
        let c = LogConfig::resolve(&broker, &map(&[("retention.ms", "5000"), ("cleanup.policy", "compact,delete")]));
        assert_eq!(c.retention_ms, 5000);
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
        let d = LogConfig::describe(&broker, &map(&[("retention.ms", "5000")]));
        let r = d.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(r.source, ConfigSource::DynamicTopicConfig);
        assert_eq!(r.synonyms[0].2, ConfigSource::DynamicTopicConfig);
        // As Kafka: broker synonyms only from the first log.retention.ms on,
        // so none while only log.retention.hours is set...
        assert_eq!(r.synonyms.len(), 1, "{:?}", r.synonyms);
        let d = LogConfig::describe(&broker, &BTreeMap::new());
        let r = d.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!((r.value.as_deref(), r.source), (Some("3600000"), ConfigSource::DefaultConfig));
        assert!(r.synonyms.is_empty());
        // ... and from it on once it is set.
        let b2 = BrokerConfig::from_props(map(&[("log.retention.ms", "7000")])).unwrap();
        let d = LogConfig::describe(&b2, &BTreeMap::new());
        let r = d.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(r.source, ConfigSource::StaticBrokerConfig);
        let names: Vec<_> = r.synonyms.iter().map(|(n, v, s)| (n.as_str(), v.as_deref(), *s)).collect();
        assert_eq!(
            names,
            [
                ("log.retention.ms", Some("7000"), ConfigSource::StaticBrokerConfig),
                ("log.retention.hours", Some("168"), ConfigSource::DefaultConfig)
            ]
        );
        let d = LogConfig::describe(&broker, &map(&[("retention.ms", "5000")]));
        let s = d.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(s.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(s.value.as_deref(), Some("2097152"));
        let m = d.iter().find(|e| e.name == "min.insync.replicas").unwrap();
        assert_eq!(m.source, ConfigSource::DefaultConfig);
    }

    #[test]
    fn validation_messages() {
        let b = BrokerConfig::default();
        assert!(LogConfig::validate_overrides(&b, &map(&[("nope", "1")]))
            .unwrap_err()
            .contains("Unknown topic config"));
        assert!(LogConfig::validate_overrides(&b, &map(&[("retention.ms", "x")])).is_err());
        assert!(LogConfig::validate_overrides(&b, &map(&[("retention.ms", "-1")])).is_ok());
    }
}
