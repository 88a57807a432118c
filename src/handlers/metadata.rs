//! Metadata (key 3), v0-13: brokers, cluster id, controller id, and per
//! topic its id, partitions, leaders, replicas, ISR and offline replicas.
//! Unknown topics are auto-created when `auto.create.topics.enable` and the
//! request allow it.
//!
//! A broker whose lease lapsed (no answered heartbeat for a session, see
//! `controller_client::lease`) answers as Kafka's brokers do once the
//! controller has fenced a broker: itself left out of the broker list and
//! the partitions it led without a leader (LEADER_NOT_AVAILABLE). Its
//! metadata is stale, and the controller has fenced it or is about to; an
//! answer naming it the leader would send clients straight back to a
//! broker that refuses their writes, while this one makes them (librdkafka
//! drops brokers missing from the list) ask another broker.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::broker::Broker;
use crate::controller_client::ops::NewTopic;
use crate::controller_client::topic::validate_topic_name;
use crate::metadata::{MetadataImage, PartitionRegistration, TopicImage};
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::context::RequestContext;
use super::{
    is_internal_topic, respond, str_bytes, AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS,
    TOPIC_AUTHORIZED_OPERATIONS,
};

/// How long a Metadata request that auto-created topics waits to see them.
const AUTO_CREATE_VISIBILITY_WAIT_MS: i32 = 5_000;

/// Replicas of a partition that are not on a live broker, or whose log
/// directory failed (Kafka's `getOfflineReplicas`).
pub fn offline_replicas(image: &MetadataImage, topic_id: Uuid, index: i32, p: &PartitionRegistration) -> Vec<i32> {
    p.replicas.iter().copied().filter(|r| image.replica_offline(topic_id, index, *r)).collect()
}

fn partition_metadata(
    image: &MetadataImage,
    topic_id: Uuid,
    index: i32,
    p: &PartitionRegistration,
    version: i16,
) -> MetadataResponsePartition {
    let offline = offline_replicas(image, topic_id, index, p);
    let leader_live = p.leader >= 0 && !offline.contains(&p.leader);
    let mut error = 0;
    if !leader_live {
        error = ResponseError::LeaderNotAvailable.code();
    } else if version == 0 && !offline.is_empty() {
        // v0 reported unavailable replicas as an error.
        error = ResponseError::ReplicaNotAvailable.code();
    }
    let mut m = MetadataResponsePartition::default()
        .with_error_code(error)
        .with_partition_index(index)
        .with_leader_id(BrokerId(if leader_live { p.leader } else { -1 }))
        .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
        .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect());
    if version >= 7 {
        m.leader_epoch = p.leader_epoch;
    }
    if version >= 5 {
        m.offline_replicas = offline.into_iter().map(BrokerId).collect();
    }
    m
}

fn topic_metadata(image: &MetadataImage, t: &TopicImage, version: i16) -> MetadataResponseTopic {
    let mut m = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_is_internal(is_internal_topic(&t.name))
        .with_partitions(t.partitions.iter().map(|(i, p)| partition_metadata(image, t.id, *i, p, version)).collect());
    if version >= 10 {
        m.topic_id = t.id;
    }
    m
}

fn error_topic(code: i16, name: Option<&str>, id: Uuid, version: i16) -> MetadataResponseTopic {
    let mut m = MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_is_internal(name.is_some_and(is_internal_topic));
    if version >= 10 {
        m.topic_id = id;
    }
    m
}

/// Live brokers with the endpoint of `listener`.
pub fn broker_list(image: &MetadataImage, listener: &str) -> Vec<MetadataResponseBroker> {
    image
        .live_brokers()
        .filter_map(|b| {
            let e = b.endpoint(listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(str_bytes(e.host.clone()))
                    .with_port(e.port as i32)
                    .with_rack(b.rack.clone().map(str_bytes)),
            )
        })
        .collect()
}

/// The controller id clients see: a live broker that accepts admin
/// requests (this single-node quorum's own broker).
pub fn controller_id(broker: &Broker, image: &MetadataImage) -> i32 {
    if image.brokers.get(&broker.config.node_id).is_some_and(|b| !b.fenced) {
        broker.config.node_id
    } else {
        image.live_brokers().next().map_or(-1, |b| b.id)
    }
}

/// The image Metadata answers from: this broker's, with this broker
/// fenced while its lease has lapsed (see the module doc).
fn as_served(broker: &Broker, image: Arc<MetadataImage>) -> Arc<MetadataImage> {
    let me = broker.config.node_id;
    if broker.replica_manager.lease().is_held() || image.brokers.get(&me).is_none_or(|b| b.fenced) {
        return image;
    }
    let mut fenced = (*image).clone();
    if let Some(b) = fenced.brokers.get_mut(&me) {
        b.fenced = true;
    }
    Arc::new(fenced)
}

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: MetadataRequest = req.decode()?;
    let v = req.version;
    let include_topic_ops = v >= 8 && body.include_topic_authorized_operations;
    let all_topics = match &body.topics {
        None => true,
        Some(t) => v == 0 && t.is_empty(),
    };
    let allow_auto_create =
        broker.config.auto_create_topics_enable && (v < 4 || body.allow_auto_topic_creation) && !all_topics;
    let mut image = as_served(broker, broker.metadata.image());

    // Requested names (by id from v12 when the name is null).
    enum Wanted {
        Name(String),
        Id(Uuid),
    }
    let wanted: Vec<Wanted> = body
        .topics
        .iter()
        .flatten()
        .map(|t| match &t.name {
            Some(n) => Wanted::Name(n.0.to_string()),
            None => Wanted::Id(t.topic_id),
        })
        .collect();

    if allow_auto_create {
        let missing: Vec<String> = wanted
            .iter()
            .filter_map(|w| match w {
                Wanted::Name(n) if image.topic_by_name(n).is_none() && validate_topic_name(n).is_ok() => {
                    Some(n.clone())
                }
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let new = missing
                .iter()
                .map(|n| {
                    broker.internal_topic_spec(n, &image).unwrap_or_else(|| NewTopic {
                        name: n.clone(),
                        num_partitions: -1,
                        replication_factor: -1,
                        assignments: Vec::new(),
                        configs: Default::default(),
                    })
                })
                .collect();
            let mut created = false;
            for (name, r) in missing.iter().zip(broker.controller.create_topics(new, false).await) {
                match r {
                    Ok(_) => {
                        created = true;
                        tracing::info!(topic = %name, "auto-created topic");
                    }
                    Err(e) => tracing::debug!(topic = %name, error = %e, "auto-create failed"),
                }
            }
            if created {
                // Briefly, so this answer can already name the new topic;
                // a client that still misses it asks again, as with Kafka.
                broker.await_committed_metadata(Some(AUTO_CREATE_VISIBILITY_WAIT_MS)).await;
            }
            image = as_served(broker, broker.metadata.image());
        }
    }

    let mut topics = Vec::new();
    if all_topics {
        let mut all: Vec<_> = image.topics.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        for t in all {
            topics.push(topic_metadata(&image, t, v));
        }
    } else {
        for w in &wanted {
            match w {
                Wanted::Name(n) => match image.topic_by_name(n) {
                    Some(t) => topics.push(topic_metadata(&image, t, v)),
                    None => {
                        let code = if validate_topic_name(n).is_err() {
                            ResponseError::InvalidTopicException.code()
                        } else {
                            ResponseError::UnknownTopicOrPartition.code()
                        };
                        topics.push(error_topic(code, Some(n), Uuid::nil(), v));
                    }
                },
                Wanted::Id(id) => match image.topic_by_id(id) {
                    Some(t) => topics.push(topic_metadata(&image, t, v)),
                    None => topics.push(error_topic(ResponseError::UnknownTopicId.code(), None, *id, v)),
                },
            }
        }
    }

    if include_topic_ops {
        // Kafka fills this in for every entry, unknown topics included
        // (kafka-python decodes it even for error entries).
        for t in &mut topics {
            t.topic_authorized_operations = TOPIC_AUTHORIZED_OPERATIONS;
        }
    }
    let mut resp = MetadataResponse::default().with_brokers(broker_list(&image, &ctx.listener)).with_topics(topics);
    if v >= 1 {
        resp.controller_id = BrokerId(controller_id(broker, &image));
    }
    if v >= 2 {
        resp.cluster_id = Some(str_bytes(broker.cluster_id()));
    }
    if (8..=10).contains(&v) && body.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = CLUSTER_AUTHORIZED_OPERATIONS;
    } else {
        resp.cluster_authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
    }
    respond(req, &resp)
}
