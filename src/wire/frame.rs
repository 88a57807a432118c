//! Length-prefixed frames: a big-endian i32 size, then that many bytes.
//!
//! The size is checked against `socket.request.max.bytes` before anything is
//! allocated for the body, and the body buffer grows only as bytes arrive, so
//! a peer that announces a large frame and sends nothing costs us nothing.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::WireError;

/// Reads one frame. `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_size: usize,
) -> Result<Option<Bytes>, WireError> {
    // Fill at least the 4-byte size.
    while buf.len() < 4 {
        if reader.read_buf(buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(WireError::UnexpectedEof);
        }
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(WireError::InvalidFrameSize(size as i64));
    }
    let size = size as usize;
    if size > max_size {
        return Err(WireError::FrameTooLarge { size, max: max_size });
    }
    while buf.len() < 4 + size {
        // Grow in bounded steps: never reserve the announced size up front.
        let missing = 4 + size - buf.len();
        buf.reserve(missing.min(1 << 20));
        if reader.read_buf(buf).await? == 0 {
            return Err(WireError::UnexpectedEof);
        }
    }
    let mut frame = buf.split_to(4 + size);
    let _ = frame.split_to(4);
    Ok(Some(frame.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_pipelined_frames() {
        let mut data = Vec::new();
        for body in [&b"abc"[..], &b""[..], &b"hello"[..]] {
            data.extend_from_slice(&(body.len() as i32).to_be_bytes());
            data.extend_from_slice(body);
        }
        let mut r = &data[..];
        let mut buf = BytesMut::new();
        assert_eq!(read_frame(&mut r, &mut buf, 100).await.unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(read_frame(&mut r, &mut buf, 100).await.unwrap().unwrap(), &b""[..]);
        assert_eq!(read_frame(&mut r, &mut buf, 100).await.unwrap().unwrap(), &b"hello"[..]);
        assert!(read_frame(&mut r, &mut buf, 100).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rejects_oversized_and_negative_sizes_without_allocating() {
        let data = (i32::MAX).to_be_bytes();
        let mut buf = BytesMut::new();
        let err = read_frame(&mut &data[..], &mut buf, 1024).await.unwrap_err();
        assert!(matches!(err, WireError::FrameTooLarge { .. }));
        assert!(buf.capacity() < 1024 * 1024);
        let data = (-5i32).to_be_bytes();
        let err = read_frame(&mut &data[..], &mut BytesMut::new(), 1024).await.unwrap_err();
        assert!(matches!(err, WireError::InvalidFrameSize(-5)));
    }

    #[tokio::test]
    async fn truncated_frame_is_eof_error() {
        let mut data = 10i32.to_be_bytes().to_vec();
        data.extend_from_slice(b"abc");
        let err = read_frame(&mut &data[..], &mut BytesMut::new(), 1024).await.unwrap_err();
        assert!(matches!(err, WireError::UnexpectedEof));
    }
}
