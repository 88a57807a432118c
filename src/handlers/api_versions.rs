//! ApiVersions (key 18), v0-4: the advertised table, features (v3+), and
//! the v0-layout UNSUPPORTED_VERSION answer to versions we do not know, so
//! a newer client can retry with one we do.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use crate::wire::request::ApiRequest;
use crate::wire::versions::{METADATA_VERSION, SUPPORTED_APIS, SUPPORTED_FEATURES};
use crate::wire::{response, WireError};

use super::{respond, str_bytes};

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|a| ApiVersion::default().with_api_key(a.key as i16).with_min_version(a.min).with_max_version(a.max))
        .collect()
}

/// Kafka's rule for client software names and versions (KIP-511).
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

pub fn handle(req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: ApiVersionsRequest = req.decode()?;
    let mut resp = ApiVersionsResponse::default();
    if req.version >= 3
        && !(valid_software_field(&body.client_software_name) && valid_software_field(&body.client_software_version))
    {
        resp.error_code = ResponseError::InvalidRequest.code();
        return respond(req, &resp);
    }
    resp.api_keys = api_keys();
    if req.version >= 3 {
        resp.supported_features = SUPPORTED_FEATURES
            .iter()
            .map(|(name, min, max)| {
                SupportedFeatureKey::default().with_name(str_bytes(*name)).with_min_version(*min).with_max_version(*max)
            })
            .collect();
        resp.finalized_features_epoch = 0;
        resp.finalized_features = vec![FinalizedFeatureKey::default()
            .with_name(str_bytes("metadata.version"))
            .with_min_version_level(METADATA_VERSION)
            .with_max_version_level(METADATA_VERSION)];
    }
    respond(req, &resp)
}

/// UNSUPPORTED_VERSION in the v0 layout, with our range, for any
/// ApiVersions version we do not serve.
pub fn fallback(correlation_id: i32) -> Result<Bytes, WireError> {
    let resp = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys());
    response::encode(ApiKey::ApiVersions, 0, correlation_id, &resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names() {
        assert!(valid_software_field("apache-kafka-java"));
        assert!(valid_software_field("3.7.0"));
        assert!(valid_software_field("librdkafka"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-bad"));
        assert!(!valid_software_field("bad name"));
    }
}
