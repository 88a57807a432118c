//! ApiVersions (key 18), v0-4: the advertised table, features (v3+), and
//! the v0-layout UNSUPPORTED_VERSION answer to versions we do not know, so
//! a newer client can retry with one we do.
//!
//! Supported features come from `SUPPORTED_FEATURES`; finalized ones from
//! the metadata image (a feature at level 0 is not listed, as in Kafka),
//! with the image's offset as the finalized-features epoch.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::metadata::MetadataImage;
use crate::wire::request::ApiRequest;
use crate::wire::versions::{ELR_FEATURE, METADATA_VERSION, SUPPORTED_APIS, SUPPORTED_FEATURES};
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

/// Supported features as ApiVersions `version` lists them: below v4 a
/// feature whose minimum level is 0 is left out (Kafka's KAFKA-17492: older
/// Java clients fail on a 0 minimum).
fn supported_features(version: i16) -> Vec<SupportedFeatureKey> {
    SUPPORTED_FEATURES
        .iter()
        .filter(|(_, min, _)| version >= 4 || *min > 0)
        .map(|(name, min, max)| {
            SupportedFeatureKey::default().with_name(str_bytes(*name)).with_min_version(*min).with_max_version(*max)
        })
        .collect()
}

/// Finalized features: `metadata.version` (Weir's fixed level until the
/// metadata log names one) and every other feature finalized above 0.
fn finalized_features(image: &MetadataImage) -> Vec<FinalizedFeatureKey> {
    let metadata_version = match image.feature_level("metadata.version") {
        0 => METADATA_VERSION,
        level => level,
    };
    let mut out = vec![FinalizedFeatureKey::default()
        .with_name(str_bytes("metadata.version"))
        .with_min_version_level(metadata_version)
        .with_max_version_level(metadata_version)];
    let elr = image.feature_level(ELR_FEATURE);
    if elr > 0 {
        out.push(
            FinalizedFeatureKey::default()
                .with_name(str_bytes(ELR_FEATURE))
                .with_min_version_level(elr)
                .with_max_version_level(elr),
        );
    }
    out
}

pub fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
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
        let image = broker.metadata.image();
        resp.supported_features = supported_features(req.version);
        // Kafka's epoch is the metadata offset of the features it reports.
        resp.finalized_features_epoch = image.offset.max(0);
        resp.finalized_features = finalized_features(&image);
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
