//! DescribeCluster (key 60), v0-2: cluster id, controller id, brokers
//! (fenced ones on request from v2).

use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::context::RequestContext;
use super::metadata::controller_id;
use super::{respond, str_bytes, AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS};

/// DescribeCluster `endpoint_type`: 1 brokers, 2 controllers.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeClusterRequest = req.decode()?;
    let v = req.version;
    let image = broker.metadata.image();
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(BrokerId(controller_id(broker, &image)));
    resp.error_message = None;
    if v >= 1 {
        resp.endpoint_type = body.endpoint_type;
        if body.endpoint_type != ENDPOINT_TYPE_BROKERS {
            resp.error_code = ResponseError::UnsupportedEndpointType.code();
            resp.error_message = Some(str_bytes("Only the broker endpoint type is supported"));
            return respond(req, &resp);
        }
    }
    let include_fenced = v >= 2 && body.include_fenced_brokers;
    resp.brokers = image
        .brokers
        .values()
        .filter(|b| include_fenced || !b.fenced)
        .filter_map(|b| {
            let e = b.endpoint(&ctx.listener)?;
            let mut d = DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(str_bytes(e.host.clone()))
                .with_port(e.port as i32)
                .with_rack(b.rack.clone().map(str_bytes));
            if v >= 2 {
                d.is_fenced = b.fenced;
            }
            Some(d)
        })
        .collect();
    resp.cluster_authorized_operations = if body.include_cluster_authorized_operations {
        CLUSTER_AUTHORIZED_OPERATIONS
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    respond(req, &resp)
}
