//! CreateTopics (key 19), v2-7: validate_only, topic configs, manual
//! replica assignments; v5+ answers with partitions, replication factor and
//! every config with its source; v7 with the topic id.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use crate::broker::Broker;
use crate::config::LogConfig;
use crate::controller_client::ops::NewTopic;
use crate::controller_client::ControllerError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: CreateTopicsRequest = req.decode()?;
    let v = req.version;
    let mut planned: Vec<Result<NewTopic, ControllerError>> = Vec::with_capacity(body.topics.len());
    for t in &body.topics {
        let mut configs = BTreeMap::new();
        let mut bad = None;
        for c in &t.configs {
            match &c.value {
                Some(val) => {
                    configs.insert(c.name.to_string(), val.to_string());
                }
                None => {
                    bad = Some(ControllerError::InvalidRequest(format!(
                        "Null value not supported for topic configs: {}",
                        c.name
                    )))
                }
            }
        }
        planned.push(match bad {
            Some(e) => Err(e),
            None => Ok(NewTopic {
                name: t.name.0.to_string(),
                num_partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                assignments: t
                    .assignments
                    .iter()
                    .map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect()))
                    .collect(),
                configs,
            }),
        });
    }
    let valid: Vec<NewTopic> = planned.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let created = broker.controller.create_topics(valid, body.validate_only).await;
    if !body.validate_only && created.iter().any(Result::is_ok) {
        broker.await_committed_metadata(Some(body.timeout_ms)).await;
    }
    let mut created = created.into_iter();
    let mut resp = CreateTopicsResponse::default();
    for (t, p) in body.topics.iter().zip(planned) {
        let outcome = match p {
            Ok(new) => created.next().expect("one result per valid topic").map(|c| (c, new)),
            Err(e) => Err(e),
        };
        let mut r = CreatableTopicResult::default().with_name(t.name.clone());
        match outcome {
            Ok((c, new)) => {
                r.error_message = None;
                if v >= 5 {
                    r.num_partitions = c.num_partitions;
                    r.replication_factor = c.replication_factor;
                    r.configs = Some(
                        LogConfig::describe(&broker.metadata.image().broker_config(&broker.config), &new.configs)
                            .into_iter()
                            .map(|d| {
                                CreatableTopicConfigs::default()
                                    .with_name(str_bytes(d.name))
                                    .with_value(d.value.map(str_bytes))
                                    .with_read_only(d.read_only)
                                    .with_config_source(d.source as i8)
                                    .with_is_sensitive(d.sensitive)
                            })
                            .collect(),
                    );
                }
                if v >= 7 {
                    r.topic_id = c.topic_id;
                }
            }
            Err(e) => {
                r.error_code = e.kafka_code();
                r.error_message = Some(str_bytes(e.to_string()));
                r.configs = None;
            }
        }
        resp.topics.push(r);
    }
    respond(req, &resp)
}
