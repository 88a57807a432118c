//! CreatePartitions (key 37), v0-3: more partitions for existing topics,
//! placed by the controller (rack aware) or as assigned.

use bytes::Bytes;
use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use crate::broker::Broker;
use crate::controller_client::ControllerError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: CreatePartitionsRequest = req.decode()?;
    // A topic named twice is refused outright, as Kafka does.
    let mut seen = HashMap::new();
    for t in &body.topics {
        *seen.entry(&t.name).or_insert(0) += 1;
    }
    let duplicated = |t: &CreatePartitionsTopic| seen[&t.name] > 1;
    let topics = body
        .topics
        .iter()
        .filter(|t| !duplicated(t))
        .map(|t| {
            let assignment =
                t.assignments.as_ref().map(|a| a.iter().map(|x| x.broker_ids.iter().map(|b| b.0).collect()).collect());
            (t.name.0.to_string(), t.count, assignment)
        })
        .collect();
    let results = broker.controller.create_partitions(topics, body.validate_only).await;
    if !body.validate_only && results.iter().any(Result::is_ok) {
        broker.await_committed_metadata(Some(body.timeout_ms)).await;
    }
    let mut results = results.into_iter();
    let mut resp = CreatePartitionsResponse::default();
    for t in &body.topics {
        let mut out = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let r = if duplicated(t) {
            Err(ControllerError::InvalidRequest("Duplicate topic name.".into()))
        } else {
            results.next().unwrap_or_else(|| Err(ControllerError::Unavailable("missing controller result".into())))
        };
        match r {
            Ok(()) => out.error_message = None,
            Err(e) => {
                out.error_code = e.kafka_code();
                out.error_message = Some(str_bytes(e.to_string()));
            }
        }
        resp.results.push(out);
    }
    respond(req, &resp)
}
