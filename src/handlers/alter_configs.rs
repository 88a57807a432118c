//! AlterConfigs (key 33), v0-2, and IncrementalAlterConfigs (key 44),
//! v0-1: dynamic topic configs and dynamic broker configs (per broker or
//! the cluster default, resource name ""), validated by the controller,
//! applied live and kept in the metadata log across restarts.

use bytes::Bytes;
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest, AlterConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::controller_client::ops::{AlterOp, ConfigChange};
use crate::controller_client::topic::validate_topic_name;
use crate::controller_client::ControllerError;
use crate::metadata::ConfigResourceType;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

/// The outcome of one resource: `None` to send to the controller, or the
/// error found before that.
fn check_resource(resource_type: i8, name: &str) -> Result<ConfigResourceType, (i16, String)> {
    match ConfigResourceType::from_code(resource_type) {
        Some(ConfigResourceType::Topic) => {
            validate_topic_name(name).map(|_| ConfigResourceType::Topic).map_err(|e| (e.kafka_code(), e.to_string()))
        }
        Some(ConfigResourceType::Broker) => Ok(ConfigResourceType::Broker),
        None => Err((ResponseError::InvalidRequest.code(), format!("Unsupported resource type {resource_type}"))),
    }
}

type Outcome = Result<(), (i16, String)>;

/// A validated change, or the error already decided for it.
type Planned = Result<(ConfigResourceType, String, ConfigChange), (i16, String)>;

async fn apply(broker: &Broker, planned: Vec<Planned>, validate_only: bool) -> Vec<Outcome> {
    let valid: Vec<_> = planned.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let results = broker.controller.alter_configs(valid, validate_only).await;
    if !validate_only && results.iter().any(Result::is_ok) {
        broker.await_committed_metadata(None).await;
    }
    let mut results = results.into_iter();
    planned
        .into_iter()
        .map(|p| match p {
            Ok(_) => results
                .next()
                .expect("one result per valid resource")
                .map_err(|e: ControllerError| (e.kafka_code(), e.to_string())),
            Err(e) => Err(e),
        })
        .collect()
}

fn message(outcome: &Outcome) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, msg)) => (*code, Some(str_bytes(msg.clone()))),
    }
}

pub async fn handle_alter(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: AlterConfigsRequest = req.decode()?;
    let planned = body
        .resources
        .iter()
        .map(|r| {
            let kind = check_resource(r.resource_type, &r.resource_name)?;
            let set = r.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()))).collect();
            Ok((kind, r.resource_name.to_string(), ConfigChange::Replace(set)))
        })
        .collect();
    let outcomes = apply(broker, planned, body.validate_only).await;
    let mut resp = AlterConfigsResponse::default();
    for (r, o) in body.resources.iter().zip(&outcomes) {
        let (code, msg) = message(o);
        resp.responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone()),
        );
    }
    respond(req, &resp)
}

pub async fn handle_incremental(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: IncrementalAlterConfigsRequest = req.decode()?;
    let planned = body
        .resources
        .iter()
        .map(|r| {
            let kind = check_resource(r.resource_type, &r.resource_name)?;
            let mut ops = Vec::with_capacity(r.configs.len());
            for c in &r.configs {
                let op = AlterOp::from_code(c.config_operation).ok_or_else(|| {
                    (ResponseError::InvalidRequest.code(), format!("Unknown config operation {}", c.config_operation))
                })?;
                ops.push((c.name.to_string(), op, c.value.as_ref().map(|v| v.to_string())));
            }
            Ok((kind, r.resource_name.to_string(), ConfigChange::Incremental(ops)))
        })
        .collect();
    let outcomes = apply(broker, planned, body.validate_only).await;
    let mut resp = IncrementalAlterConfigsResponse::default();
    for (r, o) in body.resources.iter().zip(&outcomes) {
        let (code, msg) = message(o);
        resp.responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone()),
        );
    }
    respond(req, &resp)
}
