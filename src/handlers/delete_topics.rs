//! DeleteTopics (key 20), v1-6: by name, or from v6 by name or topic id.
//! Logs are removed on every broker hosting them once the removal is
//! applied from the metadata log.

use bytes::Bytes;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use crate::broker::Broker;
use crate::controller_client::ops::TopicRef;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DeleteTopicsRequest = req.decode()?;
    let v = req.version;
    let refs: Vec<TopicRef> = if v >= 6 {
        body.topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => TopicRef::Name(n.0.to_string()),
                None => TopicRef::Id(t.topic_id),
            })
            .collect()
    } else {
        body.topic_names.iter().map(|n| TopicRef::Name(n.0.to_string())).collect()
    };
    let results = broker.controller.delete_topics(refs.clone()).await;
    if results.iter().any(Result::is_ok) {
        broker.await_committed_metadata(Some(body.timeout_ms)).await;
    }
    let mut resp = DeleteTopicsResponse::default();
    for (r, result) in refs.into_iter().zip(results) {
        let (name, id) = match &r {
            TopicRef::Name(n) => (Some(n.clone()), Uuid::nil()),
            TopicRef::Id(id) => (None, *id),
        };
        let mut out = DeletableTopicResult::default().with_name(name.map(|n| TopicName(str_bytes(n))));
        match result {
            Ok((name, id)) => {
                out.name = Some(TopicName(str_bytes(name)));
                if v >= 6 {
                    out.topic_id = id;
                }
            }
            Err(e) => {
                out.error_code = e.kafka_code();
                if v >= 5 {
                    out.error_message = Some(str_bytes(e.to_string()));
                }
                if v >= 6 {
                    out.topic_id = id;
                }
            }
        }
        resp.responses.push(out);
    }
    respond(req, &resp)
}
