//! The five codecs of a batch's records section, both ways. Decompression
//! is bounded: output stops at a caller's limit (a decompression bomb is
//! refused after producing `limit` bytes, not after inflating fully), and
//! no buffer is sized by a length the input declares beyond what the input
//! could produce.

use std::io::{Read, Write};

use super::batch::Compression;
use super::iter::RecordError;
use super::varint::Cursor;

/// Decompressed records never exceed this wherever no tighter limit
/// applies (tools, the cleaner, stored data).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// Snappy's densest encoding is a 3-byte copy of 64 bytes: no valid raw
/// block expands by more than this factor.
const SNAPPY_MAX_RATIO: usize = 22;

/// Decompresses `raw` into a new buffer, at most [`MAX_DECOMPRESSED_BYTES`].
pub fn decompress(codec: Compression, raw: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    decompress_into(codec, raw, MAX_DECOMPRESSED_BYTES, &mut out)?;
    Ok(out)
}

/// Decompresses `raw` into `out` (cleared first, its capacity reused),
/// failing with [`RecordError::TooLarge`] as soon as more than `limit`
/// bytes come out.
pub fn decompress_into(codec: Compression, raw: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.clear();
    let cap = (limit as u64).saturating_add(1);
    let res = match codec {
        Compression::None => {
            if raw.len() > limit {
                return Err(RecordError::TooLarge { limit });
            }
            out.extend_from_slice(raw);
            Ok(0)
        }
        Compression::Gzip => flate2::read::GzDecoder::new(raw).take(cap).read_to_end(out),
        Compression::Snappy => return snappy_decompress(raw, limit, out),
        Compression::Lz4 => match lz4::Decoder::new(raw) {
            Ok(d) => d.take(cap).read_to_end(out),
            Err(e) => Err(e),
        },
        Compression::Zstd => match zstd_decoder(raw, limit) {
            Ok(d) => d.take(cap).read_to_end(out),
            Err(e) => Err(e),
        },
    };
    res.map_err(|e| RecordError::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(RecordError::TooLarge { limit });
    }
    Ok(())
}

/// A zstd reader whose window may not exceed what `limit` bytes of output
/// need (between 1 MiB and zstd's default maximum of 128 MiB): a frame
/// header cannot make the decoder reserve more.
fn zstd_decoder(raw: &[u8], limit: usize) -> std::io::Result<zstd::stream::read::Decoder<'_, &[u8]>> {
    let mut d = zstd::stream::read::Decoder::with_buffer(raw)?;
    let log = usize::BITS - limit.max(1).leading_zeros();
    d.window_log_max(log.clamp(20, 27))?;
    Ok(d)
}

/// Snappy as Kafka clients send it: raw blocks, or xerial framing
/// (`\x82SNAPPY\0`, two version ints, then `[len: u32][block]`...).
fn snappy_decompress(raw: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
    const XERIAL: &[u8] = b"\x82SNAPPY\x00";
    let block = |b: &[u8], out: &mut Vec<u8>| -> Result<(), RecordError> {
        let n = snap::raw::decompress_len(b).map_err(|e| RecordError::Decompress(e.to_string()))?;
        if n > b.len().saturating_mul(SNAPPY_MAX_RATIO) + 32 {
            return Err(RecordError::Decompress(format!("snappy block of {} bytes claims {n} bytes", b.len())));
        }
        if out.len() + n > limit {
            return Err(RecordError::TooLarge { limit });
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(b, &mut out[start..])
            .map_err(|e| RecordError::Decompress(e.to_string()))?;
        Ok(())
    };
    out.clear();
    if raw.len() >= 16 && &raw[..8] == XERIAL {
        let mut c = Cursor::new(&raw[16..]);
        while c.remaining() > 0 {
            let len = u32::from_be_bytes(c.take(4)?.try_into().expect("4 bytes")) as usize;
            block(c.take(len)?, out)?;
        }
    } else {
        block(raw, out)?;
    }
    Ok(())
}

/// xerial framing as written by Kafka's `SnappyOutputStream`: magic,
/// version 1, compatible version 1, then 32 KiB blocks each prefixed with
/// its compressed length.
fn snappy_xerial(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    const BLOCK: usize = 32 * 1024;
    let mut out = Vec::with_capacity(raw.len() / 2 + 32);
    out.extend_from_slice(b"\x82SNAPPY\x00");
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in raw.chunks(BLOCK) {
        let c = enc.compress_vec(chunk).map_err(std::io::Error::other)?;
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// Compresses a records section with `codec` at Kafka's default level. LZ4
/// is a frame of independent 64 KiB blocks without checksums, which is what
/// Kafka's `KafkaLZ4BlockOutputStream` writes and what its reader requires.
pub fn compress(codec: Compression, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    match codec {
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw)?;
            e.finish()
        }
        Compression::Snappy => snappy_xerial(raw),
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::new())?;
            e.write_all(raw)?;
            let (out, res) = e.finish();
            res.map(|()| out)
        }
        Compression::Zstd => zstd::stream::encode_all(raw, 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    #[test]
    fn every_codec_round_trips() {
        let raw: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_be_bytes()).collect();
        for codec in CODECS {
            let c = compress(codec, &raw).unwrap();
            assert_eq!(decompress(codec, &c).unwrap(), raw, "{codec:?}");
        }
    }

    #[test]
    fn output_stops_at_the_limit() {
        // 8 MiB of zeros compresses to a few KiB in every codec.
        let raw = vec![0u8; 8 << 20];
        for codec in CODECS {
            let c = compress(codec, &raw).unwrap();
            let mut out = Vec::new();
            let err = decompress_into(codec, &c, 1 << 20, &mut out).unwrap_err();
            assert!(matches!(err, RecordError::TooLarge { limit } if limit == 1 << 20), "{codec:?}: {err}");
            assert!(out.capacity() <= 4 << 20, "{codec:?} grew its buffer to {}", out.capacity());
            decompress_into(codec, &c, 8 << 20, &mut out).unwrap();
            assert_eq!(out.len(), 8 << 20);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut rng = 0x1234_5678u32;
        for len in [0usize, 1, 7, 16, 100, 4096] {
            let mut raw = vec![0u8; len];
            for b in raw.iter_mut() {
                rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                *b = (rng >> 16) as u8;
            }
            for codec in &CODECS[1..] {
                let mut out = Vec::new();
                let _ = decompress_into(*codec, &raw, 1 << 20, &mut out);
                assert!(out.len() <= 1 << 20);
            }
        }
    }

    #[test]
    fn a_snappy_length_claim_beyond_the_input_allocates_nothing() {
        // A raw block whose preamble claims 1 GiB.
        let mut out = Vec::new();
        let claim = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00];
        assert!(decompress_into(Compression::Snappy, &claim, usize::MAX, &mut out).is_err());
        assert_eq!(out.capacity(), 0);
    }
}
