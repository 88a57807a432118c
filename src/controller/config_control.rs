//! Dynamic configuration changes (Kafka's `ConfigurationControlManager`):
//! validates AlterConfigs / IncrementalAlterConfigs against the current
//! image and produces the `Config` records that apply them.

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
}
