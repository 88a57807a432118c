//! FindCoordinator (key 10), v0-6: the broker coordinating a group is the
//! leader of its `__consumer_offsets` partition. The topic is created on
//! first use (`offsets.topic.num.partitions`, replication factor
//! `offsets.topic.replication.factor` clamped to the live brokers).
//! Batched keys from v4. A transactional id's coordinator is the leader of
//! its `__transaction_state` partition, created on first use the same way
//! (`transaction.state.log.*`).

use bytes::Bytes;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::context::RequestContext;
use super::{respond, str_bytes};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// (error, message, node, host, port) for one key.
async fn find(
    broker: &Broker,
    ctx: &RequestContext,
    key: &str,
    key_type: i8,
) -> (i16, Option<String>, i32, String, i32) {
    let (topic, partition, image) = match key_type {
        KEY_TYPE_GROUP => {
            if key.is_empty() {
                return (E::InvalidRequest.code(), Some("Group id must not be empty".into()), -1, String::new(), -1);
            }
            let partition = broker.group_coordinator.partition_for(key);
            (crate::coordinator::group::GROUP_METADATA_TOPIC, partition, broker.ensure_offsets_topic().await)
        }
        KEY_TYPE_TRANSACTION => {
            if key.is_empty() {
                return (
                    E::InvalidRequest.code(),
                    Some("Transactional id must not be empty".into()),
                    -1,
                    String::new(),
                    -1,
                );
            }
            let partition = broker.txn_coordinator.partition_for(key);
            (
                crate::coordinator::transaction::TRANSACTION_STATE_TOPIC,
                partition,
                broker.ensure_transaction_topic().await,
            )
        }
        other => {
            return (
                E::InvalidRequest.code(),
                Some(format!("Unknown coordinator type: {other}")),
                -1,
                String::new(),
                -1,
            )
        }
    };
    let image = match image {
        Ok(image) => image,
        Err(msg) => return (E::CoordinatorNotAvailable.code(), Some(msg), -1, String::new(), -1),
    };
    let leader = image.topic_by_name(topic).and_then(|t| t.partitions.get(&partition)).map(|p| p.leader).unwrap_or(-1);
    match image.brokers.get(&leader).filter(|b| !b.fenced).and_then(|b| b.endpoint(&ctx.listener).cloned()) {
        Some(e) => (0, None, leader, e.host, e.port as i32),
        None => {
            (E::CoordinatorNotAvailable.code(), Some("The coordinator is not available.".into()), -1, String::new(), -1)
        }
    }
}

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: FindCoordinatorRequest = req.decode()?;
    let mut resp = FindCoordinatorResponse::default();
    if req.version >= 4 {
        for key in &body.coordinator_keys {
            let (error, msg, node, host, port) = find(broker, ctx, key, body.key_type).await;
            resp.coordinators.push(
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(node))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_error_code(error)
                    .with_error_message(msg.map(str_bytes)),
            );
        }
    } else {
        let key_type = if req.version >= 1 { body.key_type } else { KEY_TYPE_GROUP };
        let (error, msg, node, host, port) = find(broker, ctx, &body.key, key_type).await;
        resp.error_code = error;
        resp.error_message = if req.version >= 1 { msg.map(str_bytes) } else { None };
        resp.node_id = BrokerId(node);
        resp.host = str_bytes(host);
        resp.port = port;
    }
    respond(req, &resp)
}
