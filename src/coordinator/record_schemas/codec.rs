//! The generic reader and writer behind every record of [`super::schemas`]:
//! one implementation of the wire rules Kafka's generated
//! `*Key`/`*Value` classes (from its `group-coordinator` and
//! `transaction-coordinator` message JSON files, e.g. `OffsetCommitValue.json`,
//! `TransactionLogValue.json`) follow, driven by a static [`RecordSchema`].
//!
//! * Non-flexible versions: int16-length strings, int32-length bytes,
//!   int32-count arrays; -1 is null.
//! * Flexible versions (`flexible_from` and later): compact lengths
//!   (unsigned varint of length + 1, 0 = null) and a tagged-field section
//!   at the end of every struct. Tagged fields are written in tag order and
//!   only when they differ from their default, as Kafka does; unknown tags
//!   are skipped on read.
//! * Fields outside the version are not written ("ignorable") and read back
//!   as their default.
//!
//! Decoding produces a [`Fields`] (every field of the schema, in schema
//! order, absent ones at their default); encoding takes one (a missing
//! field is written as its default).
//!
//! Input is untrusted: every length and count is checked against the bytes
//! that remain before anything is allocated (an array count times the
//! smallest encoding of one element at this version), and nothing panics.

use super::{Result, SchemaError};

/// Versions `min..=max` of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    /// `"n+"`.
    pub const fn from(min: i16) -> Self {
        Versions { min, max: i16::MAX }
    }
    /// `"min-max"`.
    pub const fn range(min: i16, max: i16) -> Self {
        Versions { min, max }
    }
    pub const ALL: Versions = Versions::from(0);

    pub fn contains(self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// A field's type.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    // Bool and Uuid: not in the tabled records yet; Kafka 4's
    // consumer-group and share-group records use them.
    #[allow(dead_code)]
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    #[allow(dead_code)]
    Uuid,
    String,
    Bytes,
    /// An array of the element type (`[]int32`, `[]SomeStruct`).
    Array(&'static Type),
    Struct(&'static StructSchema),
}

/// The value a field takes when its version lacks it (or, for tagged
/// fields, when it is not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// The type's zero: 0, false, "", empty bytes or array, the nil UUID, a
    /// struct of defaults.
    Zero,
    Int(i64),
    Null,
}

/// One field of a struct.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The camelCase name (JSON key, error messages).
    pub name: &'static str,
    pub ty: Type,
    pub versions: Versions,
    /// Whether null is allowed (strings, bytes, arrays).
    pub nullable: bool,
    /// A tagged field (flexible versions only): its tag.
    pub tag: Option<u32>,
    pub default: Default,
}

impl Field {
    /// A required field present in `versions`, default zero.
    pub const fn new(name: &'static str, ty: Type, versions: Versions) -> Self {
        Field { name, ty, versions, nullable: false, tag: None, default: Default::Zero }
    }
    pub const fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
    pub const fn default(mut self, default: Default) -> Self {
        self.default = default;
        self
    }
    pub const fn tagged(mut self, tag: u32) -> Self {
        self.tag = Some(tag);
        self
    }
}

/// A struct: the top level of a record or an array element.
#[derive(Debug)]
pub struct StructSchema {
    /// Kafka's struct name (names the tagged-field section in errors).
    pub name: &'static str,
    pub fields: &'static [Field],
    /// Overrides the computed smallest encoding (non-flexible, flexible)
    /// used to bound array counts; `None` for new structs. Only for
    /// structs whose hand-written decoder used a looser bound, so that
    /// errors on corrupt input name the same field as before.
    pub min_size: Option<(usize, usize)>,
}

/// A record (key or value) of an internal topic.
#[derive(Debug)]
pub struct RecordSchema {
    /// The top-level struct; its name is the record's.
    pub root: StructSchema,
    /// Valid versions (for `__consumer_offsets` keys: the record types).
    pub versions: Versions,
    /// First flexible version, if any.
    pub flexible_from: Option<i16>,
}

impl RecordSchema {
    pub fn name(&self) -> &'static str {
        self.root.name
    }
    pub fn is_flexible(&self, version: i16) -> bool {
        self.flexible_from.is_some_and(|f| version >= f)
    }
    pub fn check_version(&self, version: i16) -> Result<()> {
        if self.versions.contains(version) {
            Ok(())
        } else {
            Err(SchemaError::UnsupportedVersion { schema: self.name(), version })
        }
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Every integer type.
    Int(i64),
    Uuid([u8; 16]),
    Str(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Struct(Fields),
}

impl Value {
    pub fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            _ => 0,
        }
    }
    pub fn into_opt_string(self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn into_string(self) -> String {
        self.into_opt_string().unwrap_or_default()
    }
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b,
            _ => Vec::new(),
        }
    }
    pub fn into_opt_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn into_array(self) -> Vec<Value> {
        self.into_opt_array().unwrap_or_default()
    }
    pub fn into_fields(self) -> Fields {
        match self {
            Value::Struct(f) => f,
            _ => Fields::default(),
        }
    }
    pub fn opt_str(s: Option<&str>) -> Value {
        s.map_or(Value::Null, |s| Value::Str(s.to_string()))
    }
}

/// A struct's values by field name, in schema order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(&'static str, Value)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    /// Moves a field out (leaving null).
    pub fn take(&mut self, name: &str) -> Value {
        self.0.iter_mut().find(|(n, _)| *n == name).map_or(Value::Null, |(_, v)| std::mem::replace(v, Value::Null))
    }
    pub fn integer(&self, name: &str) -> i64 {
        self.get(name).map_or(0, Value::int)
    }
}

impl<const N: usize> From<[(&'static str, Value); N]> for Fields {
    fn from(fields: [(&'static str, Value); N]) -> Self {
        Fields(fields.into())
    }
}

/// A field's default as a value.
pub fn default_value(field: &Field) -> Value {
    match field.default {
        Default::Null => Value::Null,
        Default::Int(i) => Value::Int(i),
        Default::Zero => zero(&field.ty),
    }
}

fn zero(ty: &Type) -> Value {
    match ty {
        Type::Bool => Value::Bool(false),
        Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64 => Value::Int(0),
        Type::Uuid => Value::Uuid([0; 16]),
        Type::String => Value::Str(String::new()),
        Type::Bytes => Value::Bytes(Vec::new()),
        Type::Array(_) => Value::Array(Vec::new()),
        Type::Struct(s) => Value::Struct(Fields(s.fields.iter().map(|f| (f.name, default_value(f))).collect())),
    }
}

/// The fewest bytes one value of `ty` takes at this version: bounds array
/// counts before allocating.
fn min_size(ty: &Type, version: i16, flexible: bool) -> usize {
    match ty {
        Type::Bool | Type::Int8 => 1,
        Type::Int16 => 2,
        Type::Int32 => 4,
        Type::Int64 => 8,
        Type::Uuid => 16,
        Type::String => {
            if flexible {
                1
            } else {
                2
            }
        }
        Type::Bytes | Type::Array(_) => {
            if flexible {
                1
            } else {
                4
            }
        }
        Type::Struct(StructSchema { min_size: Some((plain, compact)), .. }) => {
            if flexible {
                *compact
            } else {
                *plain
            }
        }
        Type::Struct(s) => {
            let fields: usize = s
                .fields
                .iter()
                .filter(|f| f.versions.contains(version) && !(flexible && f.tag.is_some()))
                .map(|f| min_size(&f.ty, version, flexible))
                .sum();
            fields + usize::from(flexible)
        }
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Decodes the body (after the int16 version) of `schema` at `version`.
/// Bytes after the last field are ignored, like Kafka's readers do.
pub fn decode(schema: &'static RecordSchema, version: i16, body: &[u8]) -> Result<Fields> {
    schema.check_version(version)?;
    let mut r = Reader { buf: body, pos: 0, flexible: schema.is_flexible(version), version };
    r.read_struct(&schema.root)
}

/// Reads the version prefix, checks it and decodes the rest.
pub fn decode_versioned(schema: &'static RecordSchema, bytes: &[u8]) -> Result<(i16, Fields)> {
    let version = super::read_version(bytes)?;
    Ok((version, decode(schema, version, &bytes[2..])?))
}

/// Checked reads over untrusted bytes; `flexible` selects compact lengths.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    flexible: bool,
    version: i16,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: u64, field: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(SchemaError::Truncated { field, needed: n, available: self.remaining() });
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let s = self.take(N as u64, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Kafka's unsigned varint (at most 5 bytes, 32 bits).
    fn uvarint(&mut self, field: &'static str) -> Result<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [b] = self.array::<1>(field)?;
            if i == 4 && b > 0x0f {
                return Err(SchemaError::BadVarint(field));
            }
            value |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SchemaError::BadVarint(field))
    }

    /// A length: -1 (or compact 0) is null, other negatives are errors.
    fn length(&mut self, field: &'static str, int16: bool) -> Result<Option<u64>> {
        let len: i64 = if self.flexible {
            self.uvarint(field)? as i64 - 1
        } else if int16 {
            i16::from_be_bytes(self.array(field)?) as i64
        } else {
            i32::from_be_bytes(self.array(field)?) as i64
        };
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(SchemaError::InvalidLength { field, length: n }),
            n => Ok(Some(n as u64)),
        }
    }

    fn read_struct(&mut self, schema: &'static StructSchema) -> Result<Fields> {
        let mut fields = Vec::with_capacity(schema.fields.len());
        for field in schema.fields {
            let value = if field.versions.contains(self.version) && !(self.flexible && field.tag.is_some()) {
                self.read_value(field, &field.ty)?
            } else {
                default_value(field)
            };
            fields.push((field.name, value));
        }
        if self.flexible {
            let count = self.uvarint(schema.name)?;
            for _ in 0..count {
                let tag = self.uvarint(schema.name)?;
                let size = self.uvarint(schema.name)?;
                let data = self.take(size as u64, schema.name)?;
                let known = schema.fields.iter().position(|f| f.tag == Some(tag) && f.versions.contains(self.version));
                if let Some(i) = known {
                    let field = &schema.fields[i];
                    let mut t = Reader { buf: data, pos: 0, flexible: true, version: self.version };
                    fields[i].1 = t.read_value(field, &field.ty)?;
                }
            }
        }
        Ok(Fields(fields))
    }

    /// Reads one value of `ty` (the field's type, or its array's element
    /// type); errors name `field`.
    fn read_value(&mut self, field: &Field, ty: &'static Type) -> Result<Value> {
        let name = field.name;
        Ok(match ty {
            Type::Bool => Value::Bool(self.array::<1>(name)?[0] != 0),
            Type::Int8 => Value::Int(i8::from_be_bytes(self.array(name)?) as i64),
            Type::Int16 => Value::Int(i16::from_be_bytes(self.array(name)?) as i64),
            Type::Int32 => Value::Int(i32::from_be_bytes(self.array(name)?) as i64),
            Type::Int64 => Value::Int(i64::from_be_bytes(self.array(name)?)),
            Type::Uuid => Value::Uuid(self.array(name)?),
            Type::String => match self.length(name, true)? {
                None => self.null(field)?,
                Some(n) => Value::Str(String::from_utf8_lossy(self.take(n, name)?).into_owned()),
            },
            Type::Bytes => match self.length(name, false)? {
                None => self.null(field)?,
                Some(n) => Value::Bytes(self.take(n, name)?.to_vec()),
            },
            Type::Array(element) => match self.length(name, false)? {
                None => self.null(field)?,
                Some(n) => {
                    let min = min_size(element, self.version, self.flexible).max(1) as u64;
                    let needed = n.saturating_mul(min);
                    if needed > self.remaining() as u64 {
                        return Err(SchemaError::Truncated { field: name, needed, available: self.remaining() });
                    }
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        items.push(self.read_value(field, element)?);
                    }
                    Value::Array(items)
                }
            },
            Type::Struct(s) => Value::Struct(self.read_struct(s)?),
        })
    }

    fn null(&self, field: &Field) -> Result<Value> {
        if field.nullable {
            Ok(Value::Null)
        } else {
            Err(SchemaError::NullField(field.name))
        }
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Encodes `value` as `schema` at `version`, prefixed with the version.
/// Fields the version lacks are dropped.
pub fn encode(schema: &'static RecordSchema, version: i16, value: &Fields) -> Result<Vec<u8>> {
    schema.check_version(version)?;
    let mut w = Writer { buf: version.to_be_bytes().to_vec(), flexible: schema.is_flexible(version), version };
    w.write_struct(&schema.root, value)?;
    Ok(w.buf)
}

/// Builds a record.
struct Writer {
    buf: Vec<u8>,
    flexible: bool,
    version: i16,
}

impl Writer {
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A string, bytes or array length (`None` = null).
    fn length(&mut self, len: Option<usize>, int16: bool) {
        match len {
            // Lengths here come from in-memory values; u32 covers every
            // record Kafka accepts.
            Some(n) if self.flexible => self.uvarint((n as u64 + 1).min(u32::MAX as u64) as u32),
            None if self.flexible => self.uvarint(0),
            None if int16 => self.raw(&(-1i16).to_be_bytes()),
            None => self.raw(&(-1i32).to_be_bytes()),
            // Callers check int16 lengths first.
            Some(n) if int16 => self.raw(&(n.min(i16::MAX as usize) as i16).to_be_bytes()),
            Some(n) => self.raw(&(n.min(i32::MAX as usize) as i32).to_be_bytes()),
        }
    }

    fn write_struct(&mut self, schema: &'static StructSchema, value: &Fields) -> Result<()> {
        let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
        for field in schema.fields {
            if !field.versions.contains(self.version) {
                continue;
            }
            let default;
            let v = match value.get(field.name) {
                Some(v) => v,
                None => {
                    default = default_value(field);
                    &default
                }
            };
            match field.tag {
                Some(tag) if self.flexible => {
                    if !is_default(field, v) {
                        let mut t = Writer { buf: Vec::new(), flexible: true, version: self.version };
                        t.write_value(field, &field.ty, v)?;
                        tagged.push((tag, t.buf));
                    }
                }
                _ => self.write_value(field, &field.ty, v)?,
            }
        }
        if self.flexible {
            tagged.sort_by_key(|(tag, _)| *tag);
            self.uvarint(tagged.len() as u32);
            for (tag, data) in tagged {
                self.uvarint(tag);
                self.uvarint(data.len() as u32);
                self.raw(&data);
            }
        }
        Ok(())
    }

    fn write_value(&mut self, field: &Field, ty: &'static Type, v: &Value) -> Result<()> {
        if matches!(v, Value::Null) && !matches!(ty, Type::String | Type::Bytes | Type::Array(_)) {
            // Only from a hand-built value: a null scalar is its default.
            return self.write_value(field, ty, &zero(ty));
        }
        match (ty, v) {
            (Type::Bool, _) => self.buf.push(u8::from(matches!(v, Value::Bool(true)))),
            (Type::Int8, _) => self.raw(&(v.int() as i8).to_be_bytes()),
            (Type::Int16, _) => self.raw(&(v.int() as i16).to_be_bytes()),
            (Type::Int32, _) => self.raw(&(v.int() as i32).to_be_bytes()),
            (Type::Int64, _) => self.raw(&v.int().to_be_bytes()),
            (Type::Uuid, Value::Uuid(u)) => self.raw(u),
            (Type::Uuid, _) => self.raw(&[0; 16]),
            (_, Value::Null) if field.nullable => self.length(None, matches!(ty, Type::String)),
            (_, Value::Null) => return Err(SchemaError::NullField(field.name)),
            (Type::String, Value::Str(s)) => {
                if !self.flexible && s.len() > i16::MAX as usize {
                    return Err(SchemaError::StringTooLong {
                        field: field.name,
                        length: s.len(),
                        version: self.version,
                    });
                }
                self.length(Some(s.len()), true);
                self.raw(s.as_bytes());
            }
            (Type::Bytes, Value::Bytes(b)) => {
                self.length(Some(b.len()), false);
                self.raw(b);
            }
            (Type::Array(element), Value::Array(items)) => {
                self.length(Some(items.len()), false);
                for item in items {
                    self.write_value(field, element, item)?;
                }
            }
            (Type::Struct(s), Value::Struct(f)) => self.write_struct(s, f)?,
            // A value of the wrong shape (a bug in a typed conversion):
            // write the type's zero rather than a corrupt record.
            (ty, _) => {
                debug_assert!(false, "field {} holds {v:?}", field.name);
                self.write_value(field, ty, &zero(ty))?
            }
        }
        Ok(())
    }
}

fn is_default(field: &Field, v: &Value) -> bool {
    *v == default_value(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up record with the types and features no tabled record
    /// uses yet: bool, uuid, int8 array, a tagged struct, a field added in
    /// the flexible version.
    static INNER: StructSchema = StructSchema {
        name: "Inner",
        fields: &[Field::new("flag", Type::Bool, Versions::ALL), Field::new("id", Type::Uuid, Versions::ALL)],
        min_size: None,
    };
    static SAMPLE: RecordSchema = RecordSchema {
        root: StructSchema {
            name: "Sample",
            fields: &[
                Field::new("small", Type::Array(&Type::Int8), Versions::ALL),
                Field::new("inner", Type::Struct(&INNER), Versions::from(1)).tagged(5),
                Field::new("added", Type::String, Versions::from(1)).nullable().default(Default::Null),
            ],
            min_size: None,
        },
        versions: Versions::range(0, 1),
        flexible_from: Some(1),
    };

    fn sample() -> Fields {
        Fields::from([
            ("small", Value::Array(vec![Value::Int(-1), Value::Int(2)])),
            ("inner", Value::Struct(Fields::from([("flag", Value::Bool(true)), ("id", Value::Uuid([7; 16]))]))),
            ("added", Value::Str("x".into())),
        ])
    }

    #[test]
    fn generic_round_trips_and_layout() {
        let bytes = encode(&SAMPLE, 1, &sample()).unwrap();
        let mut e = vec![0, 1, 3, 0xff, 2, 2, b'x'];
        // One tagged field: tag 5, 18 bytes (bool, uuid, empty tag section).
        e.extend_from_slice(&[1, 5, 18, 1]);
        e.extend_from_slice(&[7; 16]);
        e.push(0);
        assert_eq!(bytes, e);
        assert_eq!(decode_versioned(&SAMPLE, &bytes).unwrap(), (1, sample()));
        // v0: only the array; the rest reads back as defaults.
        let bytes = encode(&SAMPLE, 0, &sample()).unwrap();
        assert_eq!(bytes, [0, 0, 0, 0, 0, 2, 0xff, 2]);
        let (_, back) = decode_versioned(&SAMPLE, &bytes).unwrap();
        assert_eq!(back.get("added"), Some(&Value::Null));
        assert_eq!(back.get("inner"), Some(&default_value(&SAMPLE.root.fields[1])));
        // A tagged field at its default is not written.
        let mut f = sample();
        f.0[1].1 = default_value(&SAMPLE.root.fields[1]);
        assert_eq!(encode(&SAMPLE, 1, &f).unwrap(), [0, 1, 3, 0xff, 2, 2, b'x', 0]);
        // Counts beyond the input are refused before allocating.
        assert!(matches!(
            decode_versioned(&SAMPLE, &[0, 0, 0x7f, 0xff, 0xff, 0xff]),
            Err(SchemaError::Truncated { field: "small", .. })
        ));
        assert!(matches!(encode(&SAMPLE, 2, &f), Err(SchemaError::UnsupportedVersion { version: 2, .. })));
    }
}
