//! Round trips: ApiVersions: the advertised table at every version, the v0 fallback for an unsupported version, and v3 client software validation.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// ApiVersions
// ---------------------------------------------------------------------------

pub(crate) fn advertised_table() -> Vec<(i16, i16, i16)> {
    let mut t: Vec<_> = SUPPORTED_APIS.iter().map(|a| (a.key as i16, a.min, a.max)).collect();
    t.sort();
    t
}

pub(crate) fn answered_table(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    let mut t: Vec<_> = resp.api_keys.iter().map(|a| (a.api_key, a.min_version, a.max_version)).collect();
    t.sort();
    t
}

pub(crate) fn api_versions_request(version: i16) -> ApiVersionsRequest {
    let mut req = ApiVersionsRequest::default();
    if version >= 3 {
        req.client_software_name = s("weir-tests");
        req.client_software_version = s("1.0.0");
    }
    req
}

pub(crate) async fn round_trip_api_versions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let resp: ApiVersionsResponse = c
            .send(ApiKey::ApiVersions, v, &api_versions_request(v))
            .await
            .unwrap_or_else(|e| panic!("ApiVersions v{v}: {e}"));
        assert_eq!(resp.error_code, NONE, "ApiVersions v{v}");
        assert_eq!(answered_table(&resp), advertised_table(), "ApiVersions v{v} api_keys");
        if v >= 3 {
            assert!(!resp.supported_features.is_empty(), "v{v}: supported_features");
            for f in &resp.supported_features {
                // Below v4 Kafka leaves out features with a 0 minimum
                // (KAFKA-17492); from v4 they are listed.
                let least = if v >= 4 { 0 } else { 1 };
                assert!(f.min_version >= least, "v{v}: feature {} min {}", f.name.as_str(), f.min_version);
                assert!(f.max_version >= f.min_version, "v{v}: feature {}", f.name.as_str());
            }
            // Eligible Leader Replicas: supported 0-1 (listed from v4), and
            // finalized at 1 on a new cluster (Kafka 4.1).
            let elr = resp.supported_features.iter().find(|f| f.name.as_str() == "eligible.leader.replicas.version");
            if v >= 4 {
                let elr = elr.expect("eligible.leader.replicas.version is supported");
                assert_eq!((elr.min_version, elr.max_version), (0, 1), "v{v}");
            } else {
                assert!(elr.is_none(), "v{v}: a feature with minimum 0 is listed");
            }
            let elr_finalized = resp
                .finalized_features
                .iter()
                .find(|f| f.name.as_str() == "eligible.leader.replicas.version")
                .expect("eligible.leader.replicas.version is finalized");
            assert_eq!((elr_finalized.min_version_level, elr_finalized.max_version_level), (1, 1), "v{v}");
            assert!(resp.finalized_features_epoch >= 0, "v{v}");
            let mv = resp
                .supported_features
                .iter()
                .find(|f| f.name.as_str() == "metadata.version")
                .expect("metadata.version is a supported feature");
            for f in &resp.finalized_features {
                let Some(sup) = resp.supported_features.iter().find(|s| s.name == f.name) else {
                    // Left out of the supported list below v4 (minimum 0).
                    assert!(v < 4, "v{v}: finalized {} is not supported", f.name.as_str());
                    continue;
                };
                assert!(f.min_version_level >= sup.min_version && f.max_version_level <= sup.max_version);
            }
            let fin = resp
                .finalized_features
                .iter()
                .find(|f| f.name.as_str() == "metadata.version")
                .expect("metadata.version is finalized");
            assert!(fin.max_version_level >= mv.min_version);
            // Never finalize what is not implemented (FEATURES.md §1).
            for f in &resp.finalized_features {
                match f.name.as_str() {
                    "transaction.version" => {
                        assert!(f.max_version_level < 2, "v{v}: transaction.version {}", f.max_version_level)
                    }
                    "group.version" => panic!("v{v}: group.version must not be finalized"),
                    _ => {}
                }
            }
        } else {
            assert!(resp.supported_features.is_empty());
        }
    }
}

/// An ApiVersions request header at a version the broker does not know.
pub(crate) fn api_versions_frame(version: i16, correlation_id: i32) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(ApiKey::ApiVersions as i16);
    b.put_i16(version);
    b.put_i32(correlation_id);
    b.put_i16(4);
    b.put_slice(b"test");
    b.put_u8(0); // header tagged fields (request header v2)
                 // A v3-style body: compact strings, then tagged fields.
    b.put_u8(5);
    b.put_slice(b"java");
    b.put_u8(6);
    b.put_slice(b"9.9.9");
    b.put_u8(0);
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b.to_vec()
}

/// Kafka answers an ApiVersions request at an unknown version with
/// UNSUPPORTED_VERSION in the v0 layout, listing its ranges, and keeps the
/// connection open so the client can retry at a version it supports.
#[tokio::test]
pub(crate) async fn api_versions_at_an_unsupported_version_answers_v0_layout_with_the_table() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for (version, corr) in [(5i16, 7001), (i16::MAX, 7002)] {
        c.write_raw(&api_versions_frame(version, corr)).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
            .await
            .expect("answer in time")
            .expect("read")
            .expect("the broker answers instead of closing");
        assert_eq!(&frame[..4], &corr.to_be_bytes(), "correlation id");
        let resp: ApiVersionsResponse =
            decode_response(ApiKey::ApiVersions, 0, frame).expect("the answer is a v0-layout ApiVersions response");
        assert_eq!(resp.error_code, E::UnsupportedVersion.code(), "v{version}");
        assert_eq!(answered_table(&resp), advertised_table(), "v{version}");
    }
    // The connection is still usable: the client retries at v3.
    let resp: ApiVersionsResponse = c.send(ApiKey::ApiVersions, 3, &api_versions_request(3)).await.unwrap();
    assert_eq!(resp.error_code, NONE);
    env.stop().await;
}

/// KIP-511: v3+ requires a valid client software name and version.
#[tokio::test]
pub(crate) async fn api_versions_v3_rejects_an_invalid_software_name() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::ApiVersions).filter(|v| *v >= 3) {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(s("bad name!"))
            .with_client_software_version(s("1.0"));
        let resp: ApiVersionsResponse = c.send(ApiKey::ApiVersions, v, &req).await.unwrap();
        assert_eq!(resp.error_code, E::InvalidRequest.code(), "v{v}");
    }
    env.stop().await;
}
