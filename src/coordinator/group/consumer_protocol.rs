//! The consumer embedded protocol (Kafka's `ConsumerProtocol`): the
//! subscription a consumer sends as its JoinGroup metadata and the
//! assignment its leader sends in SyncGroup, decoded into kafka-protocol's
//! [`ConsumerProtocolSubscription`] and [`ConsumerProtocolAssignment`].
//!
//! Both are an int16 version followed by the body at that version. As in
//! Kafka's `ConsumerProtocol.deserialize*`, a version below 0 is an error
//! and a version newer than known is read at the newest known version (the
//! protocol's forward-compatibility rule: newer versions only append
//! fields). The bytes come from clients: every failure is an error, never a
//! panic. This is the only parser of these bytes in weir.

use kafka_protocol::protocol::{Decodable, Message};
use thiserror::Error;

pub use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};

#[derive(Debug, Error)]
pub enum ConsumerProtocolError {
    #[error("could not read the int16 version: {0} byte(s) available")]
    MissingVersion(usize),
    #[error("{schema} version {version} is not supported")]
    UnsupportedVersion { schema: &'static str, version: i16 },
    #[error("malformed {schema} (read at version {version}): {message}")]
    Malformed { schema: &'static str, version: i16, message: String },
}

/// Decodes version-prefixed bytes; returns the version the body was read
/// at (the prefix, capped at the newest known version) and the message.
fn decode<T: Decodable + Message>(schema: &'static str, bytes: &[u8]) -> Result<(i16, T), ConsumerProtocolError> {
    let version = match bytes {
        [a, b, ..] => i16::from_be_bytes([*a, *b]),
        _ => return Err(ConsumerProtocolError::MissingVersion(bytes.len())),
    };
    if version < T::VERSIONS.min {
        return Err(ConsumerProtocolError::UnsupportedVersion { schema, version });
    }
    let version = version.min(T::VERSIONS.max);
    let mut body = &bytes[2..];
    T::decode(&mut body, version).map(|m| (version, m)).map_err(|e| ConsumerProtocolError::Malformed {
        schema,
        version,
        message: e.to_string(),
    })
}

/// Decodes a `ConsumerProtocolSubscription` (JoinGroup member metadata).
pub fn decode_subscription(bytes: &[u8]) -> Result<(i16, ConsumerProtocolSubscription), ConsumerProtocolError> {
    decode("ConsumerProtocolSubscription", bytes)
}

/// Decodes a `ConsumerProtocolAssignment` (SyncGroup member assignment).
pub fn decode_assignment(bytes: &[u8]) -> Result<(i16, ConsumerProtocolAssignment), ConsumerProtocolError> {
    decode("ConsumerProtocolAssignment", bytes)
}

/// The subscribed topics (`None` if the bytes are not a subscription).
pub fn subscription_topics(bytes: &[u8]) -> Option<Vec<String>> {
    let (_, s) = decode_subscription(bytes).ok()?;
    Some(s.topics.iter().map(|t| t.to_string()).collect())
}

/// Subscription v3 / assignment v3 as Kafka's ConsumerProtocol writes
/// them (`topics=[foo]`, no user data, owned `foo-0`, generation 0, rack
/// "rack"; assignment `foo-0`): a fixture for the tests of this module and
/// of the record schemas' JSON.
#[cfg(test)]
pub(crate) fn v3_bytes() -> (Vec<u8>, Vec<u8>) {
    let mut s = vec![0, 3, 0, 0, 0, 1, 0, 3, b'f', b'o', b'o', 0xff, 0xff, 0xff, 0xff];
    s.extend_from_slice(&[0, 0, 0, 1, 0, 3, b'f', b'o', b'o', 0, 0, 0, 1, 0, 0, 0, 0]);
    s.extend_from_slice(&[0, 0, 0, 0, 0, 4, b'r', b'a', b'c', b'k']);
    let mut a = vec![0, 3, 0, 0, 0, 1, 0, 3, b'f', b'o', b'o', 0, 0, 0, 1, 0, 0, 0, 0];
    a.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    (s, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_version() {
        let (s, a) = v3_bytes();
        let (v, sub) = decode_subscription(&s).unwrap();
        assert_eq!(v, 3);
        assert_eq!(sub.topics.iter().map(|t| &**t).collect::<Vec<_>>(), vec!["foo"]);
        assert_eq!(sub.rack_id.as_deref(), Some("rack"));
        assert_eq!(sub.generation_id, 0);
        assert_eq!(sub.owned_partitions[0].partitions, vec![0]);
        let (_, asg) = decode_assignment(&a).unwrap();
        assert_eq!(asg.assigned_partitions[0].partitions, vec![0]);
        assert_eq!(&*asg.assigned_partitions[0].topic, "foo");
        // v0 subscription: topics + user data only.
        let s0 = [0, 0, 0, 0, 0, 1, 0, 1, b'x', 0, 0, 0, 1, 7];
        let (v, sub) = decode_subscription(&s0).unwrap();
        assert_eq!(v, 0);
        assert_eq!(sub.user_data.as_deref(), Some(&[7u8][..]));
        assert_eq!(sub.generation_id, -1);
    }

    #[test]
    fn newer_versions_are_read_at_the_newest_known() {
        let (mut s, mut a) = v3_bytes();
        s[1] = 9;
        a[1] = 9;
        let (v, sub) = decode_subscription(&s).unwrap();
        assert_eq!((v, sub.rack_id.as_deref()), (3, Some("rack")));
        assert_eq!(decode_assignment(&a).unwrap().0, 3);
        s[0] = 0xff;
        assert!(matches!(decode_subscription(&s), Err(ConsumerProtocolError::UnsupportedVersion { .. })));
    }

    #[test]
    fn parses_topics_and_rejects_garbage() {
        let mut b = vec![0, 0, 0, 0, 0, 2];
        for t in ["orders", "pay"] {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // null user data
        assert_eq!(subscription_topics(&b), Some(vec!["orders".to_string(), "pay".to_string()]));
        // v1 adds owned partitions: their absence is malformed.
        b[1] = 1;
        assert_eq!(subscription_topics(&b), None);
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(subscription_topics(&b), Some(vec!["orders".to_string(), "pay".to_string()]));
        assert_eq!(subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscription_topics(&[0, 0, 0, 0, 0, 1, 0, 9, b'a']), None);
        assert_eq!(subscription_topics(&[0]), None);
        assert_eq!(subscription_topics(&[]), None);
        assert!(matches!(decode_assignment(&[1]), Err(ConsumerProtocolError::MissingVersion(1))));
    }
}
