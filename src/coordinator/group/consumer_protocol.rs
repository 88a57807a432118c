//! Just enough of the consumer embedded protocol (`ConsumerProtocolSubscription`)
//! to learn which topics a group's members subscribe to. The bytes come
//! from clients: every length is checked before use.

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The subscribed topics (`None` if the bytes are not a subscription).
pub fn subscription_topics(bytes: &[u8]) -> Option<Vec<String>> {
    let _version = be_i16(bytes, 0)?;
    let count = be_i32(bytes, 2)?;
    if count < 0 || count as usize > bytes.len() {
        return None;
    }
    let mut at = 6;
    let mut topics = Vec::new();
    for _ in 0..count {
        let len = be_i16(bytes, at)?;
        if len < 0 {
            return None;
        }
        at += 2;
        let name = bytes.get(at..at + len as usize)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
        at += len as usize;
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topics_and_rejects_garbage() {
        let mut b = vec![0, 1, 0, 0, 0, 2];
        for t in ["orders", "pay"] {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // null user data
        assert_eq!(subscription_topics(&b), Some(vec!["orders".to_string(), "pay".to_string()]));
        assert_eq!(subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscription_topics(&[0, 0, 0, 0, 0, 1, 0, 9, b'a']), None);
        assert_eq!(subscription_topics(&[]), None);
    }
}
