//! JSON renderings of decoded records, the way Kafka's generated
//! `JsonConverter`s write them (`OffsetCommitKeyJsonConverter`,
//! `OffsetCommitValueJsonConverter`, `GroupMetadataKeyJsonConverter`,
//! `GroupMetadataValueJsonConverter`, ... generated from the message JSON
//! files named in [`super::schemas`]), which is what `kafka-dump-log
//! --offsets-decoder` prints: the fields of the record's version in schema
//! order, integers as numbers, bytes as base64, UUIDs in Kafka's base64
//! form, compact output like Jackson's `JsonNode.toString`.

use std::fmt;

use base64::Engine as _;

use super::codec::{default_value, Field, Fields, RecordSchema, StructSchema, Type, Value};

/// A JSON value that keeps object fields in insertion order (serde_json's
/// map sorts keys), rendered compactly like Jackson's `JsonNode.toString`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn object<K: Into<String>>(fields: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }
    pub fn opt_str(s: Option<&str>) -> Json {
        s.map_or(Json::Null, Json::str)
    }
    /// Bytes as Jackson writes a `BinaryNode`: standard base64 with padding.
    pub fn bytes(b: &[u8]) -> Json {
        Json::Str(base64::engine::general_purpose::STANDARD.encode(b))
    }
    pub fn opt_bytes(b: Option<&[u8]>) -> Json {
        b.map_or(Json::Null, Json::bytes)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(i) => write!(f, "{i}"),
            Json::Str(s) => write_json_string(f, s),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Object(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_json_string(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    // serde_json's escaping of a plain string cannot fail.
    match serde_json::to_string(s) {
        Ok(quoted) => f.write_str(&quoted),
        Err(_) => Err(fmt::Error),
    }
}

/// Overrides the rendering of a field (e.g. bytes holding an embedded
/// protocol); `None` keeps the default.
pub type Hook<'a> = &'a dyn Fn(&Field, &Value) -> Option<Json>;

/// A record at `version`, with no overrides.
pub fn plain(schema: &RecordSchema, value: &Fields, version: i16) -> Json {
    render(schema, value, version, &|_, _| None)
}

/// A record at `version`, `hook` first asked about every field.
pub fn render(schema: &RecordSchema, value: &Fields, version: i16, hook: Hook<'_>) -> Json {
    render_struct(&schema.root, value, version, hook)
}

fn render_struct(schema: &StructSchema, value: &Fields, version: i16, hook: Hook<'_>) -> Json {
    let fields = schema.fields.iter().filter(|f| f.versions.contains(version)).map(|f| {
        let json = match value.get(f.name) {
            Some(v) => hook(f, v).unwrap_or_else(|| render_value(&f.ty, v, version, hook)),
            None => render_value(&f.ty, &default_value(f), version, hook),
        };
        (f.name.to_string(), json)
    });
    Json::Object(fields.collect())
}

fn render_value(ty: &Type, v: &Value, version: i16, hook: Hook<'_>) -> Json {
    match (ty, v) {
        (_, Value::Null) => Json::Null,
        (_, Value::Bool(b)) => Json::Bool(*b),
        (_, Value::Int(i)) => Json::Int(*i),
        // Kafka's `Uuid.toString()`: URL-safe base64 without padding.
        (_, Value::Uuid(u)) => Json::Str(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u)),
        (_, Value::Str(s)) => Json::str(s),
        (_, Value::Bytes(b)) => Json::bytes(b),
        (Type::Array(element), Value::Array(items)) => {
            Json::Array(items.iter().map(|item| render_value(element, item, version, hook)).collect())
        }
        (Type::Struct(s), Value::Struct(f)) => render_struct(s, f, version, hook),
        // A value of the wrong shape cannot come out of the decoder.
        (_, Value::Array(_) | Value::Struct(_)) => Json::Null,
    }
}
