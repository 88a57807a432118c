//! Zig-zag varints as Kafka's `ByteUtils` writes them, and a checked
//! cursor over untrusted bytes: every read is bounds-checked and no read
//! allocates.

use bytes::BufMut;

use super::iter::RecordError;

pub fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_varlong(buf, value as i64);
}

pub fn put_varlong(buf: &mut impl BufMut, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v & !0x7f != 0 {
        buf.put_u8(((v & 0x7f) | 0x80) as u8);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub fn varlong_size(value: i64) -> usize {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    let mut n = 1;
    while v & !0x7f != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// A cursor over a byte slice with checked reads.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn u8(&mut self) -> Result<u8, RecordError> {
        let b = *self.bytes.get(self.pos).ok_or(RecordError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.remaining() < n {
            return Err(RecordError::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// A varlong of at most 10 bytes (Kafka's `readVarlong` limit).
    pub fn varlong(&mut self) -> Result<i64, RecordError> {
        let mut raw: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            raw |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(RecordError::BadVarint);
            }
        }
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
    /// A varint of at most 5 bytes whose value fits an `i32` (Kafka's
    /// `readVarint` refuses anything longer).
    pub fn varint(&mut self) -> Result<i32, RecordError> {
        let mut raw: u32 = 0;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift == 28 && b & 0xf0 != 0 {
                return Err(RecordError::BadVarint);
            }
            raw |= ((b & 0x7f) as u32) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }
    /// A varint-length-prefixed byte string; any negative length is null,
    /// as Kafka's `Utils.readBytes` reads keys and values.
    pub fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, i32::MAX as i64, i64::MIN, i64::MAX] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_size(v));
            assert_eq!(Cursor::new(&b).varlong().unwrap(), v);
        }
        for v in [0i32, 1, -1, i32::MAX, i32::MIN, 12345, -12345] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(Cursor::new(&b).varint().unwrap(), v);
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        // Six bytes, or a fifth byte with bits beyond 32: not an int32.
        assert!(Cursor::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).varint().is_err());
        assert!(Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).varint().is_err());
        assert!(Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).varint().is_ok());
        assert!(Cursor::new(&[0x80; 11]).varlong().is_err());
        assert!(Cursor::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn negative_lengths_are_null_and_long_lengths_truncated() {
        for len in [-1, -2, i32::MIN] {
            let mut b = BytesMut::new();
            put_varint(&mut b, len);
            assert_eq!(Cursor::new(&b).nullable_bytes().unwrap(), None);
        }
        let mut b = BytesMut::new();
        put_varint(&mut b, i32::MAX);
        b.extend_from_slice(b"abc");
        assert!(matches!(Cursor::new(&b).nullable_bytes(), Err(RecordError::Truncated)));
    }
}
