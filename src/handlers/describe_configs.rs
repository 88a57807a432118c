//! DescribeConfigs (key 32), v1-4: every topic config with its value and
//! source (DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG),
//! every broker config, synonyms (v1+), types and documentation (v3+).

use bytes::Bytes;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::config::{DescribedConfig, LogConfig};
use crate::controller_client::topic::validate_topic_name;
use crate::metadata::ConfigResourceType;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

fn to_result(d: DescribedConfig, version: i16, synonyms: bool, docs: bool) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(d.name))
        .with_value(if d.sensitive { None } else { d.value.map(str_bytes) })
        .with_read_only(d.read_only)
        .with_config_source(d.source as i8)
        .with_is_sensitive(d.sensitive);
    if synonyms {
        r.synonyms = d
            .synonyms
            .into_iter()
            .map(|(n, v, s)| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(n))
                    .with_value(v.map(str_bytes))
                    .with_source(s as i8)
            })
            .collect();
    }
    if version >= 3 {
        r.config_type = d.ty as i8;
        r.documentation = docs.then(|| str_bytes(d.doc));
    }
    r
}

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeConfigsRequest = req.decode()?;
    let v = req.version;
    let image = broker.metadata.image();
    let view = image.broker_config(&broker.config);
    let mut resp = DescribeConfigsResponse::default();
    for res in &body.resources {
        let name = res.resource_name.to_string();
        let mut out = DescribeConfigsResult::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let described: Result<Vec<DescribedConfig>, (i16, String)> =
            match ConfigResourceType::from_code(res.resource_type) {
                Some(ConfigResourceType::Topic) => {
                    if let Err(e) = validate_topic_name(&name) {
                        Err((e.kafka_code(), e.to_string()))
                    } else if image.topic_by_name(&name).is_none() {
                        Err((ResponseError::UnknownTopicOrPartition.code(), format!("Topic {name} does not exist.")))
                    } else {
                        Ok(LogConfig::describe(&view, &image.topic_configs(&name)))
                    }
                }
                Some(ConfigResourceType::Broker) => {
                    if name.is_empty() {
                        Ok(view.describe_cluster_default())
                    } else if name.parse::<i32>().ok() == Some(broker.config.node_id) {
                        Ok(view.describe())
                    } else {
                        Err((
                            ResponseError::InvalidRequest.code(),
                            format!(
                                "Unexpected broker id, expected {} or empty string, but received {name}",
                                broker.config.node_id
                            ),
                        ))
                    }
                }
                None => Err((
                    ResponseError::InvalidRequest.code(),
                    format!("Unsupported resource type {}", res.resource_type),
                )),
            };
        match described {
            Ok(list) => {
                out.configs = list
                    .into_iter()
                    .filter(|d| res.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| **k == *d.name)))
                    .map(|d| to_result(d, v, v >= 1 && body.include_synonyms, v >= 3 && body.include_documentation))
                    .collect();
                out.error_message = None;
            }
            Err((code, msg)) => {
                out.error_code = code;
                out.error_message = Some(str_bytes(msg));
            }
        }
        resp.results.push(out);
    }
    respond(req, &resp)
}
