//! A reader for Java `.properties` files (the format of Kafka's
//! `server.properties`): `key=value`, `key: value` or `key value`, `#`/`!`
//! comments, backslash line continuations and escapes.

use std::collections::BTreeMap;

/// Parses properties text into an ordered map; later keys win.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!')) {
            continue;
        }
        logical.push_str(trimmed);
        // An odd number of trailing backslashes continues the line.
        let trailing = logical.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.pop();
            if lines.clone().next().is_some() {
                continue;
            }
        }
        let (k, v) = split_pair(&logical);
        out.insert(unescape(&k), unescape(&v));
        logical.clear();
    }
    out
}

fn split_pair(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    let mut escaped = false;
    while let Some(&c) = chars.peek() {
        if escaped {
            key.push('\\');
            key.push(c);
            escaped = false;
            chars.next();
            continue;
        }
        if c == '\\' {
            escaped = true;
            chars.next();
            continue;
        }
        if c == '=' || c == ':' || c.is_whitespace() {
            break;
        }
        key.push(c);
        chars.next();
    }
    // Skip whitespace, at most one separator, whitespace.
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    if chars.peek().is_some_and(|c| *c == '=' || *c == ':') {
        chars.next();
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    (key, chars.collect::<String>().trim_end().to_string())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_style_files() {
        let text = "# comment\n! bang\nnode.id=3\nlisteners = PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\nlog.dirs: /var/lib/kafka\nbroker.rack rack\\u0031\n\nempty=\n";
        let p = parse(text);
        assert_eq!(p["node.id"], "3");
        assert_eq!(p["listeners"], "PLAINTEXT://:9092,CONTROLLER://:9093");
        assert_eq!(p["log.dirs"], "/var/lib/kafka");
        assert_eq!(p["broker.rack"], "rack1");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 5);
    }
}
