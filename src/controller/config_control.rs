//! Dynamic configuration changes (Kafka's `ConfigurationControlManager`):
//! validates AlterConfigs / IncrementalAlterConfigs against the current
//! image and produces the `Config` records that apply them.
//!
//! With Eligible Leader Replicas on, `min.insync.replicas` is a
//! cluster-level setting (KIP-966): it may not be set per broker nor
//! removed at cluster level, and changing it (for the cluster or a topic)
//! clears the ELR state that was computed against the old value.

use std::collections::{BTreeMap, HashSet};

use crate::config::{defs, BrokerConfig, LogConfig};
use crate::controller_client::ops::{AlterOp, ConfigChange};
use crate::controller_client::ControllerError;
use crate::metadata::{ConfigResourceType, MetadataImage, MetadataRecord};

fn is_list(resource: ConfigResourceType, name: &str) -> bool {
    let ty = match resource {
        ConfigResourceType::Topic => defs::topic_def(name).map(|d| d.def.ty),
        ConfigResourceType::Broker => defs::broker_def(name).map(|d| d.ty),
    };
    ty == Some(defs::ConfigType::List)
}

/// Plans the records for one resource's change.
pub fn plan_alter(
    image: &MetadataImage,
    static_config: &BrokerConfig,
    resource: ConfigResourceType,
    name: &str,
    change: &ConfigChange,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let current: BTreeMap<String, String> =
        image.configs.get(&(resource, name.to_string())).cloned().unwrap_or_default();
    match resource {
        ConfigResourceType::Topic => {
            if image.topic_by_name(name).is_none() {
                return Err(ControllerError::UnknownTopicOrPartition(format!("Topic {name} does not exist.")));
            }
        }
        ConfigResourceType::Broker => {
            if !name.is_empty() {
                let id: i32 =
                    name.parse().map_err(|_| ControllerError::InvalidRequest(format!("Invalid broker id {name}")))?;
                if !image.brokers.contains_key(&id) {
                    return Err(ControllerError::InvalidRequest(format!("Broker {id} is not registered.")));
                }
            }
        }
    }
    // The effective value a list operation starts from.
    let effective = |key: &str| -> Option<String> {
        current.get(key).cloned().or_else(|| match resource {
            ConfigResourceType::Topic => {
                let view = image.broker_config(static_config);
                LogConfig::describe(&view, &image.topic_configs(name))
                    .into_iter()
                    .find(|d| d.name == key)
                    .and_then(|d| d.value)
            }
            ConfigResourceType::Broker => static_config.value(key),
        })
    };
    if image.elr_enabled() && resource == ConfigResourceType::Broker {
        if !name.is_empty() && touches(change, MIN_ISR) {
            return Err(ControllerError::InvalidConfig(format!(
                "The {MIN_ISR} config can not be altered at the broker level while eligible leader replicas are enabled; alter the cluster default instead."
            )));
        }
        if name.is_empty() && removes(change, MIN_ISR) {
            return Err(ControllerError::InvalidConfig(format!(
                "The cluster-level {MIN_ISR} config can not be removed while eligible leader replicas are enabled."
            )));
        }
    }
    let mut next = current.clone();
    match change {
        ConfigChange::Incremental(ops) => {
            let mut seen = HashSet::new();
            for (key, _, _) in ops {
                if !seen.insert(key.as_str()) {
                    return Err(ControllerError::InvalidRequest(format!("Error due to duplicate config keys: {key}")));
                }
            }
            for (key, op, value) in ops {
                match op {
                    AlterOp::Set => {
                        let v = value.clone().ok_or_else(|| {
                            ControllerError::InvalidRequest(format!("Null value not supported for : {key}"))
                        })?;
                        next.insert(key.clone(), v);
                    }
                    AlterOp::Delete => {
                        next.remove(key);
                    }
                    AlterOp::Append | AlterOp::Subtract => {
                        if !is_list(resource, key) {
                            return Err(ControllerError::InvalidConfig(format!(
                                "Config value append is not allowed for config key: {key}"
                            )));
                        }
                        let mut items: Vec<String> = effective(key)
                            .unwrap_or_default()
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect();
                        let given: Vec<String> = value
                            .clone()
                            .unwrap_or_default()
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect();
                        if *op == AlterOp::Append {
                            for g in given {
                                if !items.contains(&g) {
                                    items.push(g);
                                }
                            }
                        } else {
                            items.retain(|i| !given.contains(i));
                        }
                        next.insert(key.clone(), items.join(","));
                    }
                }
            }
        }
        ConfigChange::Replace(set) => {
            next.clear();
            for (key, value) in set {
                if let Some(v) = value {
                    next.insert(key.clone(), v.clone());
                }
            }
        }
    }
    validate(resource, static_config, &next)?;
    let mut records = Vec::new();
    for (k, v) in &next {
        if current.get(k) != Some(v) {
            records.push(MetadataRecord::Config {
                resource_type: resource,
                resource_name: name.to_string(),
                name: k.clone(),
                value: Some(v.clone()),
            });
        }
    }
    for k in current.keys() {
        if !next.contains_key(k) {
            records.push(MetadataRecord::Config {
                resource_type: resource,
                resource_name: name.to_string(),
                name: k.clone(),
                value: None,
            });
        }
    }
    Ok(records)
}

const MIN_ISR: &str = "min.insync.replicas";

/// Whether `change` names `key` at all (set, delete, or in a replacing set).
fn touches(change: &ConfigChange, key: &str) -> bool {
    match change {
        ConfigChange::Incremental(ops) => ops.iter().any(|(k, _, _)| k == key),
        ConfigChange::Replace(set) => set.iter().any(|(k, _)| k == key),
    }
}

/// Whether `change` leaves `key` unset: deleted, or left out of (or null
/// in) a replacing set.
fn removes(change: &ConfigChange, key: &str) -> bool {
    match change {
        ConfigChange::Incremental(ops) => ops.iter().any(|(k, op, _)| k == key && *op == AlterOp::Delete),
        ConfigChange::Replace(set) => !set.iter().any(|(k, v)| k == key && v.is_some()),
    }
}

/// Which partitions' ELR state `change` on (`resource`, `name`) voids:
/// with ELR on, any update of `min.insync.replicas` (even to the same
/// value) does, for the topic's own partitions (`Some(Some(topic))`) or,
/// at cluster level, every partition (`Some(None)`); Kafka clears their
/// ELR and last-known ELR.
pub fn elr_cleared_by<'a>(
    image: &MetadataImage,
    resource: ConfigResourceType,
    name: &'a str,
    change: &ConfigChange,
) -> Option<Option<&'a str>> {
    if !image.elr_enabled() || !touches(change, MIN_ISR) {
        return None;
    }
    match resource {
        ConfigResourceType::Topic => Some(Some(name)),
        ConfigResourceType::Broker if name.is_empty() => Some(None),
        ConfigResourceType::Broker => None,
    }
}

fn validate(
    resource: ConfigResourceType,
    static_config: &BrokerConfig,
    configs: &BTreeMap<String, String>,
) -> Result<(), ControllerError> {
    match resource {
        ConfigResourceType::Topic => {
            LogConfig::validate_overrides(static_config, configs).map_err(ControllerError::InvalidConfig)
        }
        ConfigResourceType::Broker => {
            let not_dynamic: Vec<&str> =
                configs.keys().map(String::as_str).filter(|k| !defs::is_dynamic_broker_config(k)).collect();
            if !not_dynamic.is_empty() {
                return Err(ControllerError::InvalidRequest(format!(
                    "Cannot update these configs dynamically: {not_dynamic:?}"
                )));
            }
            for (k, v) in configs {
                let def = defs::broker_def(k)
                    .ok_or_else(|| ControllerError::InvalidConfig(format!("Unknown broker config {k}")))?;
                defs::validate(def, v).map_err(ControllerError::InvalidConfig)?;
            }
            // The resulting topic defaults must be valid topic configs.
            let view = static_config.with_dynamic(configs.clone(), BTreeMap::new());
            // And the connection limits valid limits (as KafkaConfig checks them).
            let overrides = view.value("max.connections.per.ip.overrides").unwrap_or_default();
            let overrides = crate::config::parse_per_ip_overrides(&overrides)
                .map_err(|e| ControllerError::InvalidConfig(e.to_string()))?;
            if view.int("max.connections.per.ip") == 0 && overrides.is_empty() {
                return Err(ControllerError::InvalidConfig(
                    "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set".into(),
                ));
            }
            LogConfig::validate_overrides(&view, &BTreeMap::new()).map_err(ControllerError::InvalidConfig)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn image_with_topic() -> MetadataImage {
        let mut img = MetadataImage::empty();
        img.apply(0, &MetadataRecord::Topic { name: "t".into(), topic_id: Uuid::new_v4() });
        img.apply(
            1,
            &MetadataRecord::Config {
                resource_type: ConfigResourceType::Topic,
                resource_name: "t".into(),
                name: "cleanup.policy".into(),
                value: Some("delete".into()),
            },
        );
        img
    }

    #[test]
    fn incremental_ops() {
        let img = image_with_topic();
        let b = BrokerConfig::default();
        let recs = plan_alter(
            &img,
            &b,
            ConfigResourceType::Topic,
            "t",
            &ConfigChange::Incremental(vec![
                ("retention.ms".into(), AlterOp::Set, Some("1000".into())),
                ("cleanup.policy".into(), AlterOp::Append, Some("compact".into())),
            ]),
        )
        .unwrap();
        assert!(recs.contains(&MetadataRecord::Config {
            resource_type: ConfigResourceType::Topic,
            resource_name: "t".into(),
            name: "cleanup.policy".into(),
            value: Some("delete,compact".into())
        }));
        let bad = plan_alter(
            &img,
            &b,
            ConfigResourceType::Topic,
            "t",
            &ConfigChange::Incremental(vec![("retention.ms".into(), AlterOp::Append, Some("1".into()))]),
        );
        assert!(matches!(bad, Err(ControllerError::InvalidConfig(_))));
        let bad = plan_alter(
            &img,
            &b,
            ConfigResourceType::Topic,
            "t",
            &ConfigChange::Incremental(vec![("segment.bytes".into(), AlterOp::Set, Some("12".into()))]),
        );
        assert!(matches!(bad, Err(ControllerError::InvalidConfig(_))));
        let del = plan_alter(
            &img,
            &b,
            ConfigResourceType::Topic,
            "t",
            &ConfigChange::Incremental(vec![("cleanup.policy".into(), AlterOp::Delete, None)]),
        )
        .unwrap();
        assert_eq!(del.len(), 1);
    }

    #[test]
    fn broker_configs_must_be_dynamic() {
        let mut img = MetadataImage::empty();
        img.apply(
            0,
            &MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::new_v4(),
                broker_epoch: None,
                listeners: vec![],
                rack: None,
                fenced: false,
                offline_replicas: vec![],
            },
        );
        let b = BrokerConfig::default();
        let ok = plan_alter(
            &img,
            &b,
            ConfigResourceType::Broker,
            "",
            &ConfigChange::Incremental(vec![("log.retention.ms".into(), AlterOp::Set, Some("5000".into()))]),
        );
        assert_eq!(ok.unwrap().len(), 1);
        let bad = plan_alter(
            &img,
            &b,
            ConfigResourceType::Broker,
            "1",
            &ConfigChange::Incremental(vec![("listeners".into(), AlterOp::Set, Some("PLAINTEXT://:1".into()))]),
        );
        assert!(matches!(bad, Err(ControllerError::InvalidRequest(_))));
    }

    /// With ELR on, a min ISR update (even to the same value) clears the
    /// ELR it governs; per-broker values and removing the cluster value are
    /// refused.
    #[test]
    fn min_isr_with_elr() {
        use crate::wire::versions::{ELR_FEATURE, ELR_VERSION, METADATA_VERSION};
        let mut img = image_with_topic();
        let id = img.topic_by_name("t").unwrap().id;
        let records = [
            MetadataRecord::FeatureLevel { name: "metadata.version".into(), level: METADATA_VERSION },
            MetadataRecord::FeatureLevel { name: ELR_FEATURE.into(), level: ELR_VERSION },
            MetadataRecord::Config {
                resource_type: ConfigResourceType::Broker,
                resource_name: String::new(),
                name: MIN_ISR.into(),
                value: Some("2".into()),
            },
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::new_v4(),
                listeners: vec![],
                rack: None,
                fenced: false,
                broker_epoch: None,
                offline_replicas: vec![],
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition_id: 0,
                replicas: vec![1, 2, 3],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: vec![2, 3],
                last_known_elr: vec![],
            },
        ];
        for (i, r) in records.iter().enumerate() {
            img.apply(2 + i as i64, r);
        }
        assert!(img.elr_enabled());
        let b = BrokerConfig::default();
        let set = |v: &str| ConfigChange::Incremental(vec![(MIN_ISR.into(), AlterOp::Set, Some(v.into()))]);
        // The cluster default, unchanged in value: no Config record, but
        // the ELR goes.
        assert!(plan_alter(&img, &b, ConfigResourceType::Broker, "", &set("2")).unwrap().is_empty());
        assert_eq!(elr_cleared_by(&img, ConfigResourceType::Broker, "", &set("2")), Some(None));
        assert_eq!(elr_cleared_by(&img, ConfigResourceType::Topic, "t", &set("1")), Some(Some("t")));
        let retention = ConfigChange::Incremental(vec![("retention.ms".into(), AlterOp::Set, Some("1".into()))]);
        assert_eq!(elr_cleared_by(&img, ConfigResourceType::Topic, "t", &retention), None);
        assert!(matches!(
            plan_alter(&img, &b, ConfigResourceType::Broker, "1", &set("1")),
            Err(ControllerError::InvalidConfig(_))
        ));
        let delete = ConfigChange::Incremental(vec![(MIN_ISR.into(), AlterOp::Delete, None)]);
        assert!(matches!(
            plan_alter(&img, &b, ConfigResourceType::Broker, "", &delete),
            Err(ControllerError::InvalidConfig(_))
        ));
        assert!(matches!(
            plan_alter(&img, &b, ConfigResourceType::Broker, "", &ConfigChange::Replace(vec![])),
            Err(ControllerError::InvalidConfig(_))
        ));
    }
}
