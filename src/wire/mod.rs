//! Kafka protocol glue with no broker state: frames, headers, typed bodies,
//! the advertised version table. Record batches live in `crate::record`.

pub mod client;
pub mod frame;
pub mod request;
pub mod response;
pub mod versions;

use thiserror::Error;

/// Why a connection's byte stream cannot be served. Every variant closes
/// the connection (Kafka's behaviour for malformed input); none panics.
#[derive(Debug, Error)]
pub enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed in the middle of a frame")]
    UnexpectedEof,
    #[error("invalid frame size {0}")]
    InvalidFrameSize(i64),
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max})")]
    FrameTooLarge { size: usize, max: usize },
    #[error("request header truncated ({0} bytes)")]
    TruncatedHeader(usize),
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of api key {api_key}")]
    UnsupportedVersion { api_key: i16, version: i16 },
    #[error("malformed {api} v{version} request: {reason}")]
    Malformed { api: &'static str, version: i16, reason: String },
    #[error("cannot encode response: {0}")]
    Encode(String),
}
