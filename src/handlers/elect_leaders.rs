//! ElectLeaders (key 43), v0-2: preferred-leader elections (v0 always) and
//! unclean elections (v1+), for given partitions or all of them
//! (`kafka-leader-election --election-type preferred|unclean`).

use bytes::Bytes;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::controller_client::ops::ElectionType;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: ElectLeadersRequest = req.decode()?;
    let v = req.version;
    let mut resp = ElectLeadersResponse::default();
    let election = match (v, body.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        _ => {
            resp.error_code = E::InvalidRequest.code();
            return respond(req, &resp);
        }
    };
    let partitions = body
        .topic_partitions
        .as_ref()
        .map(|ts| ts.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.to_string(), *p))).collect());
    let outcome = broker.controller.elect_leaders(election, partitions).await;
    if outcome.is_ok() {
        broker.await_committed_metadata(Some(body.timeout_ms)).await;
    }
    match outcome {
        Err(e) => {
            if v >= 1 {
                resp.error_code = e.kafka_code();
            }
        }
        Ok(outcomes) => {
            if body.topic_partitions.is_none() {
                // Kafka lists every topic when electing for all partitions,
                // even those whose partitions all have the wanted leader.
                let image = broker.metadata.image();
                let mut names: Vec<&String> = image.topics.values().map(|t| &t.name).collect();
                names.sort();
                for name in names {
                    resp.replica_election_results
                        .push(ReplicaElectionResult::default().with_topic(TopicName(str_bytes(name.clone()))));
                }
            }
            for o in outcomes {
                let result = PartitionResult::default()
                    .with_partition_id(o.partition)
                    .with_error_code(o.error.as_ref().map_or(0, |e| e.code))
                    .with_error_message(o.error.map(|e| str_bytes(e.message)));
                match resp.replica_election_results.iter_mut().find(|r| *r.topic.0 == o.topic) {
                    Some(r) => r.partition_result.push(result),
                    None => resp.replica_election_results.push(
                        ReplicaElectionResult::default()
                            .with_topic(TopicName(str_bytes(o.topic)))
                            .with_partition_result(vec![result]),
                    ),
                }
            }
        }
    }
    respond(req, &resp)
}
