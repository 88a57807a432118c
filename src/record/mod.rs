//! Kafka's record layer (`org.apache.kafka.common.record`), message format
//! v2 only: batch headers ([`batch`]), the varints inside records
//! ([`varint`]), the codecs ([`compression`]), the one iterator over the
//! records of a batch that everything decoding records uses ([`iter`]),
//! owned records with a batch builder for data the broker writes itself
//! ([`records`]), and the transaction markers of control batches
//! ([`control`]).
//!
//! The produce path validates every record through [`iter`] (see
//! `storage::log_validator`) but writes and serves the client's bytes
//! untouched; only headers are patched.

pub mod batch;
pub mod compression;
pub mod control;
pub mod iter;
pub mod records;
pub mod varint;

pub use iter::{RecordError, RecordIter, RecordView};
