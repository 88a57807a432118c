//! `weir dump-log`: Kafka's `kafka-dump-log.sh` (`DumpLogSegments`) for
//! Weir's data directories, with the same flags and the same output, so
//! scripts and habits carry over.
//!
//! Works on `.log` segments (and `.checkpoint` KRaft snapshots, which share
//! the format), `.index`, `.timeindex`, `.txnindex` and producer-state
//! `.snapshot` files; anything else is reported as `Ignoring unknown file`.
//! Index files are verified against the `.log` next to them, as Kafka does.
//!
//! Output goes to the `out` writer and problems to `err`, exactly where
//! Kafka prints them (stdout / stderr). Where Kafka's tool would die with an
//! exception on damaged input (a corrupt batch length, an unreadable file,
//! undecodable records, a failed index sanity check), this one reports the
//! problem on `err` and carries on with the next batch or file; it never
//! panics on any input.
//!
//! Differences from `kafka-dump-log`, all deliberate:
//! * `--key-decoder-class` / `--value-decoder-class` are accepted (and, as
//!   in Kafka, imply `--print-data-log`), but Java classes cannot be loaded:
//!   keys and values are always printed as UTF-8 text (Kafka's default
//!   `StringDecoder`); a class other than `StringDecoder` draws a warning.
//! * `--remote-log-metadata-decoder` and `--share-group-state-decoder` are
//!   not supported (Weir has neither topic).
//! * `--cluster-metadata-decoder` prints Weir's metadata records, which are
//!   JSON (one per Kafka record), as the JSON text of the value.
//! * `--offsets-decoder` decodes record types 0-2 (offset commits, classic
//!   group metadata); the records of the new consumer/share group protocols
//!   (types 3-15) are reported as not decoded instead of rendered.
//! * Message format v0/v1 batches are reported and skipped; KRaft control
//!   records other than transaction markers are printed as
//!   `controlType: NAME(id)` rather than as JSON.
//! * `--max-bytes` defaults to no limit (Kafka: 2147483647).
//! * Mismatch lists are printed in file order (Kafka prints some of them
//!   reversed), and with `--skip-record-metadata` a keyless record line
//!   still starts with `|`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::coordinator::record_schemas::{
    self, decode_transaction_log_key, decode_transaction_log_value_versioned, read_version,
    unsupported_group_record_type_name, SchemaError, TransactionState,
};
use crate::record::batch::{BatchHeader, Compression, HEADER_SIZE, LOG_OVERHEAD};
use crate::record::compression::decompress;
use crate::record::iter::RecordIter;
use crate::storage::producer_state::read_snapshot;

/// Kafka's default `--max-message-size` (5 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 5 * 1024 * 1024;

/// Flags of `weir dump-log`, named as `kafka-dump-log`'s.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "dump-log",
    about = "Print the contents of log segments, indexes and producer snapshots (kafka-dump-log)"
)]
pub struct DumpLogArgs {
    /// Comma-separated data, index and snapshot files to dump.
    #[arg(long, required = true, value_delimiter = ',', value_name = "FILE1,FILE2,...")]
    pub files: Vec<PathBuf>,
    /// Print record keys and values (implied by every decoder option).
    #[arg(long)]
    pub print_data_log: bool,
    /// Decode the records inside each batch, not just batch headers (implied
    /// by --print-data-log).
    #[arg(long)]
    pub deep_iteration: bool,
    /// Check index entries against the log without printing them.
    #[arg(long)]
    pub verify_index_only: bool,
    /// Only run the sanity check a broker runs on startup to decide whether
    /// an index must be rebuilt.
    #[arg(long)]
    pub index_sanity_check: bool,
    /// Largest batch expected at an offset-index position.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_SIZE, value_name = "SIZE")]
    pub max_message_size: u64,
    /// Read at most this many bytes of each log (whole batches only).
    #[arg(long, value_name = "SIZE")]
    pub max_bytes: Option<u64>,
    /// Print only keys and payloads, not record metadata.
    #[arg(long)]
    pub skip_record_metadata: bool,
    /// Decode records as __consumer_offsets keys and values.
    #[arg(long)]
    pub offsets_decoder: bool,
    /// Decode records as __transaction_state keys and values.
    #[arg(long)]
    pub transaction_log_decoder: bool,
    /// Decode records as cluster metadata (__cluster_metadata).
    #[arg(long)]
    pub cluster_metadata_decoder: bool,
    /// Accepted for compatibility: keys are printed as UTF-8 text.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "CLASS")]
    pub key_decoder_class: Option<String>,
    /// Accepted for compatibility: values are printed as UTF-8 text.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "CLASS")]
    pub value_decoder_class: Option<String>,
}

impl DumpLogArgs {
    /// Arguments for `files` with every other flag at its default.
    pub fn new(files: Vec<PathBuf>) -> Self {
        DumpLogArgs {
            files,
            print_data_log: false,
            deep_iteration: false,
            verify_index_only: false,
            index_sanity_check: false,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_bytes: None,
            skip_record_metadata: false,
            offsets_decoder: false,
            transaction_log_decoder: false,
            cluster_metadata_decoder: false,
            key_decoder_class: None,
            value_decoder_class: None,
        }
    }

    fn should_print_data(&self) -> bool {
        self.print_data_log
            || self.offsets_decoder
            || self.transaction_log_decoder
            || self.cluster_metadata_decoder
            || self.key_decoder_class.is_some()
            || self.value_decoder_class.is_some()
    }

    fn parser(&self) -> MessageParser {
        if self.offsets_decoder {
            MessageParser::Offsets
        } else if self.transaction_log_decoder {
            MessageParser::TransactionLog
        } else if self.cluster_metadata_decoder {
            MessageParser::ClusterMetadata
        } else {
            MessageParser::Text
        }
    }
}

/// What a run could not do (output itself is in the writers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpSummary {
    /// Files that could not be opened or read.
    pub unreadable_files: usize,
}

/// Dumps every file of `args.files`, writing what Kafka prints on stdout to
/// `out` and what it prints on stderr to `err`. Only failures to write
/// output are errors; problems with the files are reported on `err`.
pub fn run(args: &DumpLogArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<DumpSummary> {
    for (flag, class) in
        [("--key-decoder-class", &args.key_decoder_class), ("--value-decoder-class", &args.value_decoder_class)]
    {
        if let Some(class) = class {
            if !matches!(
                class.as_str(),
                "" | "org.apache.kafka.tools.api.StringDecoder" | "kafka.serializer.StringDecoder"
            ) {
                writeln!(
                    err,
                    "Warning: {flag} {class} is ignored: weir cannot load Java classes; \
                     data is printed as UTF-8 text (StringDecoder)"
                )?;
            }
        }
    }
    let print_data = args.should_print_data();
    let mut d = Dumper {
        out,
        err,
        opts: Options {
            print_data,
            deep: args.deep_iteration || print_data,
            verify_only: args.verify_index_only,
            sanity_only: args.index_sanity_check,
            max_message_size: args.max_message_size,
            max_bytes: args.max_bytes,
            skip_metadata: args.skip_record_metadata,
            parser: args.parser(),
        },
        reports: Reports::default(),
        summary: DumpSummary::default(),
    };
    for file in args.files.iter().filter(|f| !f.as_os_str().is_empty()) {
        writeln!(d.out, "Dumping {}", file.display())?;
        let name = file_name(file);
        let suffix = name.rfind('.').map(|i| &name[i..]);
        match suffix {
            Some(".log") | Some(".checkpoint") => d.dump_log(file, &name)?,
            Some(".index") => d.dump_index(file, &name)?,
            Some(".timeindex") => d.dump_time_index(file, &name)?,
            Some(".snapshot") => d.dump_producer_snapshot(file)?,
            Some(".txnindex") => d.dump_txn_index(file)?,
            _ => writeln!(d.err, "Ignoring unknown file {}", file.display())?,
        }
    }
    d.print_reports()?;
    d.out.flush()?;
    d.err.flush()?;
    Ok(d.summary)
}

// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageParser {
    /// Kafka's `StringDecoder` for keys and values.
    Text,
    Offsets,
    TransactionLog,
    ClusterMetadata,
}

struct Options {
    print_data: bool,
    deep: bool,
    verify_only: bool,
    sanity_only: bool,
    max_message_size: u64,
    max_bytes: Option<u64>,
    skip_metadata: bool,
    parser: MessageParser,
}

/// Per-file lists of problems, printed on `err` after every file is dumped
/// (keyed by absolute path, in the order the files were seen).
#[derive(Default)]
struct Reports {
    index_mismatches: Vec<(String, Vec<(i64, i64)>)>,
    time_mismatches: Vec<(String, Vec<(i64, i64)>)>,
    time_out_of_order: Vec<(String, Vec<(i64, i64)>)>,
    time_not_found: Vec<(String, Vec<(i64, i64)>)>,
    non_consecutive: Vec<(String, Vec<(i64, i64)>)>,
}

fn push_report(list: &mut Vec<(String, Vec<(i64, i64)>)>, path: &Path, pair: (i64, i64)) {
    let key = absolute(path);
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, pairs)) => pairs.push(pair),
        None => list.push((key, vec![pair])),
    }
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The base offset in a segment file name (`00000000000000000042.index`).
fn base_offset_of(name: &str) -> Option<i64> {
    name.split('.').next()?.parse().ok()
}

/// `dir/<base>.<suffix>` for the segment `name` belongs to.
fn sibling(path: &Path, name: &str, suffix: &str) -> PathBuf {
    let stem = name.split('.').next().unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}"))
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Kafka's `DefaultRecordBatch.incrementSequence` (Java int arithmetic).
fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence as i64 > i32::MAX as i64 - increment as i64 {
        (increment as i64 - (i32::MAX as i64 - sequence as i64) - 1) as i32
    } else {
        (sequence as i64 + increment as i64) as i32
    }
}

/// Kafka's `DefaultRecordBatch.decrementSequence`.
fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        (i32::MAX as i64 - (decrement as i64 - sequence as i64) + 1) as i32
    } else {
        (sequence as i64 - decrement as i64) as i32
    }
}

fn optional_long(v: Option<i64>) -> String {
    match v {
        Some(v) => format!("OptionalLong[{v}]"),
        None => "OptionalLong.empty".to_string(),
    }
}

// ---- reading batches from a file -----------------------------------------

/// Bytes of a batch up to and including `magic` (Kafka's
/// `HEADER_SIZE_UP_TO_MAGIC`).
const HEADER_UP_TO_MAGIC: u64 = 17;
/// Kafka's `LegacyRecord.RECORD_OVERHEAD_V0`: the smallest size field the
/// log reader accepts before looking at the magic.
const MIN_RECORD_OVERHEAD: i32 = 14;

/// What is at a position of a log file, read like Kafka's
/// `FileLogInputStream.nextBatch`.
enum Frame {
    /// No further complete batch before `end` (the rest, if any, counts as
    /// invalid trailing bytes).
    End,
    /// A size field Kafka's reader rejects outright.
    BadSize(i32),
    /// A complete batch of `size` bytes (log overhead included).
    Batch { size: u64, magic: i8 },
}

struct LogFile {
    file: File,
    len: u64,
}

impl LogFile {
    fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(LogFile { file, len })
    }

    fn read(&self, pos: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.file.read_exact_at(&mut buf, pos)?;
        Ok(buf)
    }

    fn frame(&self, pos: u64, end: u64) -> io::Result<Frame> {
        let end = end.min(self.len);
        if end < HEADER_UP_TO_MAGIC || pos >= end - HEADER_UP_TO_MAGIC {
            return Ok(Frame::End);
        }
        let head = self.read(pos, HEADER_UP_TO_MAGIC)?;
        let size = be_i32(&head, 8);
        if size < MIN_RECORD_OVERHEAD {
            return Ok(Frame::BadSize(size));
        }
        let total = size as u64 + LOG_OVERHEAD as u64;
        if total > end - pos {
            return Ok(Frame::End);
        }
        Ok(Frame::Batch { size: total, magic: head[16] as i8 })
    }

    /// The last offset of the batch at `pos` if a complete batch lies within
    /// `[pos, end)`.
    fn last_offset_at(&self, pos: u64, end: u64) -> io::Result<Option<i64>> {
        match self.frame(pos, end)? {
            Frame::Batch { size, magic } => {
                if magic < 2 {
                    // Legacy entries: the log header's offset is the last one.
                    let head = self.read(pos, 8)?;
                    return Ok(Some(be_i64(&head, 0)));
                }
                if size < HEADER_SIZE as u64 {
                    return Ok(None);
                }
                let head = self.read(pos, HEADER_SIZE as u64)?;
                Ok(BatchHeader::parse(&head).map(|h| last_offset(&h)))
            }
            _ => Ok(None),
        }
    }
}

/// `baseOffset + lastOffsetDelta` with Java's wrapping arithmetic.
fn last_offset(h: &BatchHeader) -> i64 {
    h.base_offset.wrapping_add(h.last_offset_delta as i64)
}

// ---- records ---------------------------------------------------------------

/// One record of a v2 batch, as `DefaultRecord` exposes it.
struct DecodedRecord {
    offset: i64,
    timestamp: i64,
    sequence: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    header_keys: Vec<String>,
}

fn timestamp_type(h: &BatchHeader) -> &'static str {
    if h.is_log_append_time() {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

/// Decodes the records of a v2 batch (`bytes` = the whole batch) with the
/// record iterator, returning those decoded before the first problem along
/// with the problem.
fn decode_records(h: &BatchHeader, bytes: &[u8]) -> (Vec<DecodedRecord>, Option<String>) {
    let mut records = Vec::new();
    let raw = &bytes[HEADER_SIZE.min(bytes.len())..];
    let Some(codec) = Compression::from_id(h.compression_id()) else {
        return (records, Some(format!("Unknown compression type id: {}", h.compression_id())));
    };
    let payload = match decompress(codec, raw) {
        Ok(p) => p,
        Err(e) => return (records, Some(e.to_string())),
    };
    let iter = match RecordIter::new(&payload, h.records_count) {
        Ok(iter) => iter,
        Err(e) => return (records, Some(e.to_string())),
    };
    for r in iter {
        match r {
            Ok(r) => records.push(DecodedRecord {
                offset: h.base_offset.wrapping_add(r.offset_delta as i64),
                timestamp: if h.is_log_append_time() {
                    h.max_timestamp
                } else {
                    h.base_timestamp.wrapping_add(r.timestamp_delta)
                },
                sequence: if h.base_sequence == -1 { -1 } else { increment_sequence(h.base_sequence, r.offset_delta) },
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                header_keys: r.headers().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect(),
            }),
            Err(e) => return (records, Some(e.to_string())),
        }
    }
    (records, None)
}

/// The text after the record metadata for a control record
/// (` endTxnMarker: COMMIT coordinatorEpoch: 0`), or why it is invalid.
fn control_record_text(r: &DecodedRecord) -> Result<String, String> {
    let key = r.key.as_deref().unwrap_or_default();
    if key.len() < 4 {
        return Err(format!(
            "Invalid value size found for end control record key. Must have at least 4 bytes, but found only {}",
            key.len()
        ));
    }
    let version = be_i16(key, 0);
    if version < 0 {
        return Err(format!("Invalid version found for control record: {version}. May indicate data corruption"));
    }
    let type_id = be_i16(key, 2);
    let name = match type_id {
        0 => "ABORT",
        1 => "COMMIT",
        2 => "LEADER_CHANGE",
        3 => "SNAPSHOT_HEADER",
        4 => "SNAPSHOT_FOOTER",
        5 => "KRAFT_VERSION",
        6 => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    };
    if type_id == 0 || type_id == 1 {
        let value = r.value.as_deref().unwrap_or_default();
        if value.len() < 6 {
            return Err(format!(
                "Invalid value size found for end transaction marker. Must have at least 6 bytes, but found only {}",
                value.len()
            ));
        }
        let version = be_i16(value, 0);
        if version < 0 {
            return Err(format!(
                "Invalid version found for end transaction marker: {version}. May indicate data corruption"
            ));
        }
        return Ok(format!(" endTxnMarker: {name} coordinatorEpoch: {}", be_i32(value, 2)));
    }
    Ok(format!(" controlType: {name}({type_id})"))
}

// ---- message parsers -------------------------------------------------------

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl MessageParser {
    /// Kafka's `MessageParser.parse`: the key and payload texts to print.
    fn parse(self, r: &DecodedRecord) -> (Option<String>, Option<String>) {
        match self {
            MessageParser::Text => (r.key.as_deref().map(text), r.value.as_deref().map(text)),
            MessageParser::Offsets => parse_offsets(r),
            MessageParser::TransactionLog => parse_transaction_log(r),
            MessageParser::ClusterMetadata => {
                let out = match r.value.as_deref() {
                    None => format!("Error at {}, skipping. The record has no value", r.offset),
                    Some(v) => match serde_json::from_slice::<serde_json::Value>(v) {
                        Ok(_) => text(v),
                        Err(e) => {
                            format!("Error at {}, skipping. Could not deserialize metadata record: {e}", r.offset)
                        }
                    },
                };
                (None, Some(out))
            }
        }
    }
}

fn parse_offsets(r: &DecodedRecord) -> (Option<String>, Option<String>) {
    let offset = r.offset;
    let Some(key) = r.key.as_deref() else {
        return (
            Some(format!(
                "Failed to decode message at offset {offset} using offset topic decoder (message had a missing key)"
            )),
            None,
        );
    };
    let error = |what: &str, e: SchemaError| -> (Option<String>, Option<String>) {
        (Some(format!("Error at offset {offset}, skipping. {what}{e}.")), None)
    };
    let record_type = match read_version(key) {
        Ok(t) => t,
        Err(_) => {
            return (
                Some(format!("Error at offset {offset}, skipping. Could not read version from key's buffer.")),
                None,
            )
        }
    };
    if let Some(name) = unsupported_group_record_type_name(record_type) {
        return (
            Some(format!("Record type {record_type} ({name}) at offset {offset} is not decoded by weir, skipping.")),
            None,
        );
    }
    if !(0..=2).contains(&record_type) {
        return (Some(format!("Unknown record type {record_type} at offset {offset}, skipping.")), None);
    }
    let key_json = match record_schemas::group_key_json(key) {
        Ok(j) => j,
        Err(e) => {
            return error(&format!("Could not read record with version {record_type} from key's buffer due to: "), e)
        }
    };
    let Some(value) = r.value.as_deref() else {
        return (Some(key_json), Some("<DELETE>".to_string()));
    };
    match record_schemas::group_value_json(record_type, value) {
        Ok(v) => (Some(key_json), Some(v)),
        Err(e) => match read_version(value) {
            Ok(version) => {
                error(&format!("Could not read record with version {version} from value's buffer due to: "), e)
            }
            Err(_) => {
                (Some(format!("Error at offset {offset}, skipping. Could not read version from value's buffer.")), None)
            }
        },
    }
}

fn parse_transaction_log(r: &DecodedRecord) -> (Option<String>, Option<String>) {
    let offset = r.offset;
    let Some(key) = r.key.as_deref() else {
        return (
            Some(format!(
                "Failed to decode message at offset {offset} using transaction log decoder (message had a missing key)"
            )),
            None,
        );
    };
    match read_version(key) {
        Ok(0) => {}
        Ok(version) => return (Some(format!("unknown::version={version}")), None),
        Err(e) => return (Some(format!("Error at offset {offset}, skipping. {e}.")), None),
    }
    let id = match decode_transaction_log_key(key) {
        Ok(k) => k.transactional_id,
        Err(e) => return (Some(format!("Error at offset {offset}, skipping. {e}.")), None),
    };
    let key_text = format!("transaction_metadata::transactionalId={id}");
    let Some(value) = r.value.as_deref() else {
        return (Some(key_text), Some("<DELETE>".to_string()));
    };
    let payload = match decode_transaction_log_value_versioned(value) {
        Err(SchemaError::UnsupportedVersion { version, .. }) => format!(
            "Error at offset {offset}, skipping. Unknown version {version} from the transaction log message value"
        ),
        Err(e) => format!("Error at offset {offset}, skipping. {e}."),
        Ok((_, v)) => match TransactionState::from_id(v.transaction_status) {
            None => format!(
                "Error at offset {offset}, skipping. Unknown transaction state id {} from the transaction status message",
                v.transaction_status
            ),
            Some(state) => {
                let partitions: Vec<String> = if state == TransactionState::Empty {
                    Vec::new()
                } else {
                    v.transaction_partitions
                        .iter()
                        .flatten()
                        .flat_map(|p| {
                            p.partition_ids
                                .iter()
                                .map(move |id| format!("{}-{id}", p.topic))
                        })
                        .collect()
                };
                format!(
                    "producerId:{},producerEpoch:{},state={state},partitions=[{}],txnLastUpdateTimestamp={},txnTimeoutMs={}",
                    v.producer_id,
                    v.producer_epoch,
                    partitions.join(","),
                    v.transaction_last_update_timestamp_ms,
                    v.transaction_timeout_ms
                )
            }
        },
    };
    (Some(key_text), Some(payload))
}

// ---- the dumper -------------------------------------------------------------

struct Dumper<'w> {
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    opts: Options,
    reports: Reports,
    summary: DumpSummary,
}

impl Dumper<'_> {
    fn unreadable(&mut self, path: &Path, e: &io::Error) -> io::Result<()> {
        self.summary.unreadable_files += 1;
        writeln!(self.err, "Cannot read {}: {e}", path.display())
    }

    fn read_all(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) => {
                self.unreadable(path, &e)?;
                Ok(None)
            }
        }
    }

    fn dump_log(&mut self, path: &Path, name: &str) -> io::Result<()> {
        if name.ends_with(".log") {
            match base_offset_of(name) {
                Some(base) => writeln!(self.out, "Log starting offset: {base}")?,
                None => writeln!(self.err, "Cannot parse the starting offset from the file name {name}")?,
            }
        } else if name == "bootstrap.checkpoint" {
            writeln!(self.out, "KRaft bootstrap snapshot")?;
        } else {
            // KRaft snapshots: <end offset:020>-<epoch:010>.checkpoint
            let stem = name.trim_end_matches(".checkpoint");
            match stem.split_once('-').and_then(|(o, e)| Some((o.parse::<i64>().ok()?, e.parse::<i32>().ok()?))) {
                Some((offset, epoch)) => writeln!(self.out, "Snapshot end offset: {offset}, epoch: {epoch}")?,
                None => writeln!(self.err, "Cannot parse the snapshot id from the file name {name}")?,
            }
        }
        let log = match LogFile::open(path) {
            Ok(l) => l,
            Err(e) => return self.unreadable(path, &e),
        };
        let end = self.opts.max_bytes.map_or(log.len, |m| m.min(log.len));
        let mut valid: u64 = 0;
        let mut last_offset: Option<i64> = None;
        loop {
            let frame = match log.frame(valid, end) {
                Ok(f) => f,
                Err(e) => return self.unreadable(path, &e),
            };
            match frame {
                Frame::End => break,
                Frame::BadSize(size) => {
                    writeln!(
                        self.err,
                        "Found record size {size} smaller than minimum record overhead ({MIN_RECORD_OVERHEAD}) at position {valid} in file {}.",
                        path.display()
                    )?;
                    break;
                }
                Frame::Batch { size, magic } if magic < 2 => {
                    writeln!(
                        self.err,
                        "Skipping the {size}-byte batch at position {valid} in file {}: magic {magic} (message format v0/v1) is not supported by weir.",
                        path.display()
                    )?;
                    valid += size;
                }
                Frame::Batch { size, .. } if size < HEADER_SIZE as u64 => {
                    writeln!(
                        self.err,
                        "Found batch size {size} smaller than the record batch overhead ({HEADER_SIZE}) at position {valid} in file {}.",
                        path.display()
                    )?;
                    break;
                }
                Frame::Batch { size, .. } => {
                    let bytes = match log.read(valid, size) {
                        Ok(b) => b,
                        Err(e) => return self.unreadable(path, &e),
                    };
                    self.dump_batch(path, &bytes, valid, &mut last_offset)?;
                    valid += size;
                }
            }
        }
        let trailing = end - valid.min(end);
        if trailing > 0 && self.opts.max_bytes.is_none() {
            writeln!(self.out, "Found {trailing} invalid bytes at the end of {name}")?;
        }
        Ok(())
    }

    fn dump_batch(
        &mut self,
        path: &Path,
        bytes: &[u8],
        position: u64,
        previous_offset: &mut Option<i64>,
    ) -> io::Result<()> {
        let Some(h) = BatchHeader::parse(bytes) else {
            return Ok(());
        };
        let magic = bytes[16] as i8;
        let stored_crc = u32::from_be_bytes([bytes[17], bytes[18], bytes[19], bytes[20]]);
        let is_valid = crc32c::crc32c(&bytes[21..]) == stored_crc;
        let delete_horizon = (h.attributes & 0x40 != 0).then_some(h.base_timestamp);
        let codec = match Compression::from_id(h.compression_id()) {
            Some(c) => c.name().to_string(),
            None => format!("unknown({})", h.compression_id()),
        };
        let last_sequence =
            if h.base_sequence == -1 { -1 } else { increment_sequence(h.base_sequence, h.last_offset_delta) };
        writeln!(
            self.out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {} position: {position} {}: {} size: {} magic: {magic} compresscodec: {codec} crc: {stored_crc} isvalid: {is_valid}",
            h.base_offset,
            last_offset(&h),
            h.records_count,
            h.base_sequence,
            last_sequence,
            h.producer_id,
            h.producer_epoch,
            h.partition_leader_epoch,
            h.is_transactional(),
            h.is_control(),
            optional_long(delete_horizon),
            timestamp_type(&h),
            h.max_timestamp,
            bytes.len(),
        )?;
        if !self.opts.deep {
            return Ok(());
        }
        let (records, problem) = decode_records(&h, bytes);
        for r in &records {
            if let Some(previous) = *previous_offset {
                if r.offset != previous.wrapping_add(1) {
                    push_report(&mut self.reports.non_consecutive, path, (previous, r.offset));
                }
            }
            *previous_offset = Some(r.offset);
            self.print_record(path, &h, r)?;
        }
        if let Some(problem) = problem {
            writeln!(
                self.err,
                "Cannot decode the records of the batch at position {position} in file {}: {problem}",
                path.display()
            )?;
        }
        Ok(())
    }

    fn print_record(&mut self, path: &Path, h: &BatchHeader, r: &DecodedRecord) -> io::Result<()> {
        let mut line = String::from("|");
        let mut prefix = " ";
        if !self.opts.skip_metadata {
            line.push_str(&format!(
                " offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
                r.offset,
                timestamp_type(h),
                r.timestamp,
                r.key.as_ref().map_or(-1, |k| k.len() as i64),
                r.value.as_ref().map_or(-1, |v| v.len() as i64),
                r.sequence,
                r.header_keys.join(","),
            ));
            if h.is_control() {
                match control_record_text(r) {
                    Ok(t) => line.push_str(&t),
                    Err(e) => writeln!(
                        self.err,
                        "Invalid control record at offset {} in file {}: {e}",
                        r.offset,
                        path.display()
                    )?,
                }
            }
        }
        if self.opts.print_data && !h.is_control() {
            let (key, payload) = self.opts.parser.parse(r);
            if let Some(key) = key {
                line.push_str(prefix);
                line.push_str("key: ");
                line.push_str(&key);
                prefix = " ";
            }
            if let Some(payload) = payload {
                line.push_str(prefix);
                line.push_str("payload: ");
                line.push_str(&payload);
            }
        }
        writeln!(self.out, "{line}")
    }

    fn dump_index(&mut self, path: &Path, name: &str) -> io::Result<()> {
        let Some(base) = base_offset_of(name) else {
            return writeln!(self.err, "Cannot parse the base offset from the file name {name}");
        };
        let Some(bytes) = self.read_all(path)? else {
            return Ok(());
        };
        let entries = bytes.len() / 8;
        if entries == 0 {
            return writeln!(self.out, "{} is empty.", path.display());
        }
        let entry = |i: usize| (base.wrapping_add(be_i32(&bytes, i * 8) as i64), be_i32(&bytes, i * 8 + 4));
        if self.opts.sanity_only {
            let (last_offset, _) = entry(entries - 1);
            if last_offset < base {
                return writeln!(
                    self.err,
                    "Corrupt index found, index file {} has non-zero size but the last offset is {last_offset} which is less than the base offset {base}",
                    absolute(path)
                );
            }
            if bytes.len() % 8 != 0 {
                return writeln!(
                    self.err,
                    "Index file {} is corrupt, found {} bytes which is neither positive nor a multiple of 8",
                    absolute(path),
                    bytes.len()
                );
            }
            return writeln!(self.out, "{} passed sanity check.", path.display());
        }
        let log_path = sibling(path, name, ".log");
        let log = match LogFile::open(&log_path) {
            Ok(l) => Some(l),
            Err(e) => {
                writeln!(self.err, "Cannot verify {} against {}: {e}", path.display(), log_path.display())?;
                None
            }
        };
        for i in 0..entries {
            let (offset, position) = entry(i);
            // Kafka preallocates index files: a zero entry after the first
            // marks the end.
            if offset == base && i > 0 {
                break;
            }
            if let Some(log) = &log {
                let found = if position < 0 {
                    None
                } else {
                    let pos = position as u64;
                    match log.last_offset_at(pos, pos.saturating_add(self.opts.max_message_size)) {
                        Ok(found) => found,
                        Err(e) => {
                            writeln!(self.err, "Cannot read {}: {e}", log_path.display())?;
                            None
                        }
                    }
                };
                if found != Some(offset) {
                    push_report(&mut self.reports.index_mismatches, path, (offset, found.unwrap_or(-1)));
                }
            }
            if !self.opts.verify_only {
                writeln!(self.out, "offset: {offset} position: {position}")?;
            }
        }
        Ok(())
    }

    fn dump_time_index(&mut self, path: &Path, name: &str) -> io::Result<()> {
        let Some(base) = base_offset_of(name) else {
            return writeln!(self.err, "Cannot parse the base offset from the file name {name}");
        };
        let Some(bytes) = self.read_all(path)? else {
            return Ok(());
        };
        let entries = bytes.len() / 12;
        let entry = |i: usize| (be_i64(&bytes, i * 12), base.wrapping_add(be_i32(&bytes, i * 12 + 8) as i64));
        if self.opts.sanity_only {
            let abs = absolute(path);
            if entries != 0 {
                let (last_ts, last_offset) = entry(entries - 1);
                let (first_ts, _) = entry(0);
                if last_ts < first_ts {
                    return writeln!(
                        self.err,
                        "Corrupt time index found, time index file ({abs}) has non-zero size but the last timestamp is {last_ts} which is less than the first timestamp {first_ts}"
                    );
                }
                if last_offset < base {
                    return writeln!(
                        self.err,
                        "Corrupt time index found, time index file ({abs}) has non-zero size but the last offset is {last_offset} which is less than the first offset {base}"
                    );
                }
            }
            if bytes.len() % 12 != 0 {
                return writeln!(
                    self.err,
                    "Time index file {abs} is corrupt, found {} bytes which is neither positive nor a multiple of 12",
                    bytes.len()
                );
            }
            return writeln!(self.out, "{} passed sanity check.", path.display());
        }
        let log_path = sibling(path, name, ".log");
        let log = match LogFile::open(&log_path) {
            Ok(l) => Some(l),
            Err(e) => {
                writeln!(self.err, "Cannot verify {} against {}: {e}", path.display(), log_path.display())?;
                None
            }
        };
        // The offset index narrows where each entry's batch is searched; a
        // missing one only means scanning from the start.
        let offset_index = std::fs::read(sibling(path, name, ".index")).unwrap_or_default();
        let index_entries: Vec<(i64, i32)> = offset_index
            .chunks_exact(8)
            .map(|c| (base.wrapping_add(be_i32(c, 0) as i64), be_i32(c, 4)))
            .enumerate()
            .take_while(|&(i, (o, _))| i == 0 || o != base)
            .map(|(_, e)| e)
            .collect();
        let mut prev_timestamp = -1i64;
        for i in 0..entries {
            let (timestamp, offset) = entry(i);
            if offset == base && i > 0 {
                break;
            }
            if let Some(log) = &log {
                let position = index_entries
                    .iter()
                    .filter(|&&(o, p)| o <= offset && p >= 0)
                    .max_by_key(|&&(o, _)| o)
                    .map_or(0, |&(_, p)| p as u64);
                match self.find_batch(log, &log_path, position, offset)? {
                    None => push_report(&mut self.reports.time_not_found, path, (offset, -1)),
                    Some((last, _)) if last != offset => {
                        push_report(&mut self.reports.time_not_found, path, (offset, last))
                    }
                    Some((_, max_timestamp)) => {
                        if max_timestamp != timestamp {
                            push_report(&mut self.reports.time_mismatches, path, (timestamp, max_timestamp));
                        }
                        if prev_timestamp >= timestamp {
                            push_report(&mut self.reports.time_out_of_order, path, (timestamp, prev_timestamp));
                        }
                    }
                }
            }
            if !self.opts.verify_only {
                writeln!(self.out, "timestamp: {timestamp} offset: {offset}")?;
            }
            prev_timestamp = timestamp;
        }
        Ok(())
    }

    /// From `position`, the first batch whose last offset is >= `offset`:
    /// its last offset and the largest timestamp of its records.
    fn find_batch(
        &mut self,
        log: &LogFile,
        log_path: &Path,
        mut position: u64,
        offset: i64,
    ) -> io::Result<Option<(i64, i64)>> {
        loop {
            let frame = match log.frame(position, log.len) {
                Ok(f) => f,
                Err(e) => {
                    writeln!(self.err, "Cannot read {}: {e}", log_path.display())?;
                    return Ok(None);
                }
            };
            let Frame::Batch { size, magic } = frame else {
                return Ok(None);
            };
            let last = match log.last_offset_at(position, log.len) {
                Ok(Some(last)) => last,
                _ => return Ok(None),
            };
            if last >= offset {
                if last != offset || magic < 2 {
                    // Legacy batches cannot be decoded here; report no timestamp.
                    return Ok(Some((last, -1)));
                }
                let bytes = match log.read(position, size) {
                    Ok(b) => b,
                    Err(e) => {
                        writeln!(self.err, "Cannot read {}: {e}", log_path.display())?;
                        return Ok(None);
                    }
                };
                let Some(h) = BatchHeader::parse(&bytes) else {
                    return Ok(None);
                };
                let (records, problem) = decode_records(&h, &bytes);
                if let Some(problem) = problem {
                    writeln!(
                        self.err,
                        "Cannot decode the records of the batch at position {position} in file {}: {problem}",
                        log_path.display()
                    )?;
                }
                let max = records.iter().map(|r| r.timestamp).fold(-1, i64::max);
                return Ok(Some((last, max)));
            }
            position += size;
        }
    }

    fn dump_producer_snapshot(&mut self, path: &Path) -> io::Result<()> {
        let Some(bytes) = self.read_all(path)? else {
            return Ok(());
        };
        match read_snapshot(&bytes) {
            Err(e) => writeln!(self.err, "{e}"),
            Ok(entries) => {
                for e in entries {
                    write!(
                        self.out,
                        "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {} lastTimestamp: {} ",
                        e.producer_id,
                        e.epoch,
                        e.coordinator_epoch,
                        optional_long((e.current_txn_first_offset >= 0).then_some(e.current_txn_first_offset)),
                        e.timestamp
                    )?;
                    if e.last_offset >= 0 {
                        write!(
                            self.out,
                            "firstSequence: {} lastSequence: {} lastOffset: {} offsetDelta: {} timestamp: {}",
                            decrement_sequence(e.last_sequence, e.offset_delta),
                            e.last_sequence,
                            e.last_offset,
                            e.offset_delta,
                            e.timestamp
                        )?;
                    }
                    writeln!(self.out)?;
                }
                Ok(())
            }
        }
    }

    fn dump_txn_index(&mut self, path: &Path) -> io::Result<()> {
        const ENTRY: usize = 34;
        let Some(bytes) = self.read_all(path)? else {
            return Ok(());
        };
        for chunk in bytes.chunks(ENTRY) {
            if chunk.len() < ENTRY {
                return writeln!(
                    self.err,
                    "Expected to be able to read {ENTRY} bytes in transaction index file {} but only got {}",
                    absolute(path),
                    chunk.len()
                );
            }
            let version = be_i16(chunk, 0);
            if version != 0 {
                return writeln!(
                    self.err,
                    "Unexpected aborted transaction version {version} in transaction index {}, current version is 0",
                    absolute(path)
                );
            }
            writeln!(
                self.out,
                "version: {version} producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
                be_i64(chunk, 2),
                be_i64(chunk, 10),
                be_i64(chunk, 18),
                be_i64(chunk, 26)
            )?;
        }
        Ok(())
    }

    fn print_reports(&mut self) -> io::Result<()> {
        let r = std::mem::take(&mut self.reports);
        for (file, pairs) in &r.index_mismatches {
            writeln!(self.err, "Mismatches in :{file}")?;
            for (index_offset, log_offset) in pairs {
                writeln!(self.err, "  Index offset: {index_offset}, log offset: {log_offset}")?;
            }
        }
        for (file, pairs) in &r.time_mismatches {
            writeln!(self.err, "Found timestamp mismatch in :{file}")?;
            for (index_ts, log_ts) in pairs {
                writeln!(self.err, "  Index timestamp: {index_ts}, log timestamp: {log_ts}")?;
            }
        }
        for (file, pairs) in &r.time_out_of_order {
            writeln!(self.err, "Found out of order timestamp in :{file}")?;
            for (ts, prev) in pairs {
                writeln!(self.err, "  Index timestamp: {ts}, Previously indexed timestamp: {prev}")?;
            }
        }
        for (_, pairs) in &r.time_not_found {
            writeln!(self.err, "The following indexed offsets are not found in the log.")?;
            for (indexed, found) in pairs {
                writeln!(self.err, "Indexed offset: {indexed}, found log offset: {found}")?;
            }
        }
        for (file, pairs) in &r.non_consecutive {
            writeln!(self.err, "Non-consecutive offsets in {file}")?;
            for (first, second) in pairs {
                writeln!(self.err, "  {first} is followed by {second}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::record_schemas::{
        encode_key, encode_offset_commit_value, encode_transaction_log_key, encode_transaction_log_value,
        GroupRecordKey, OffsetCommitValue, TransactionLogKey, TransactionLogValue, TransactionPartitions,
    };
    use crate::record::batch::patch;
    use crate::record::records::{BatchBuilder, Record};
    use crate::storage::producer_state::{encode_snapshot, BatchMetadata, ProducerStateEntry};

    fn run_on(args: &DumpLogArgs) -> (String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        run(args, &mut out, &mut err).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    fn segment(batches: &[Vec<u8>]) -> Vec<u8> {
        batches.concat()
    }

    fn simple_batch(base: i64, n: usize, ts: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(base, ts).leader_epoch(0);
        for i in 0..n {
            let mut r =
                Record::new(Some(format!("k{i}").into_bytes()), Some(format!("v{i}").into_bytes()), ts + i as i64);
            r.headers.push(("h1".into(), Some(b"x".to_vec())));
            r.headers.push(("h2".into(), None));
            b.push(r);
        }
        b.build().to_vec()
    }

    #[test]
    fn parses_kafka_style_flags() {
        let a = DumpLogArgs::try_parse_from([
            "dump-log",
            "--files",
            "a.log,b.index",
            "--print-data-log",
            "--max-message-size",
            "100",
            "--value-decoder-class",
        ])
        .unwrap();
        assert_eq!(a.files, vec![PathBuf::from("a.log"), PathBuf::from("b.index")]);
        assert!(a.print_data_log);
        assert_eq!(a.max_message_size, 100);
        assert_eq!(a.value_decoder_class.as_deref(), Some(""));
        assert!(DumpLogArgs::try_parse_from(["dump-log"]).is_err());
        let d = DumpLogArgs::try_parse_from(["dump-log", "--files", "x"]).unwrap();
        assert_eq!(d, DumpLogArgs::new(vec![PathBuf::from("x")]));
    }

    #[test]
    fn dumps_batches_and_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let b0 = simple_batch(0, 2, 1_000);
        let mut b1 = BatchBuilder::new(2, 2_000).producer(7, 1, 5);
        b1.push(Record::new(None, Some(b"only".to_vec()), 2_000));
        let b1 = b1.build().to_vec();
        std::fs::write(&path, segment(&[b0.clone(), b1.clone()])).unwrap();
        let mut args = DumpLogArgs::new(vec![path.clone()]);
        let (out, err) = run_on(&args);
        assert_eq!(err, "");
        let crc0 = u32::from_be_bytes(b0[17..21].try_into().unwrap());
        let expected = format!(
            "Dumping {}\nLog starting offset: 0\n\
             baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1001 size: {} magic: 2 compresscodec: none crc: {crc0} isvalid: true\n",
            path.display(),
            b0.len()
        );
        assert!(out.starts_with(&expected), "{out}");
        assert!(out.contains(&format!(
            "baseOffset: 2 lastOffset: 2 count: 1 baseSequence: 5 lastSequence: 5 producerId: 7 producerEpoch: 1 partitionLeaderEpoch: -1 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: {} CreateTime: 2000",
            b0.len()
        )));
        assert!(!out.contains("| offset"));

        args.print_data_log = true;
        let (out, _) = run_on(&args);
        assert!(out.contains(
            "| offset: 0 CreateTime: 1000 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [h1,h2] key: k0 payload: v0\n"
        ), "{out}");
        assert!(
            out.contains(
                "| offset: 2 CreateTime: 2000 keySize: -1 valueSize: 4 sequence: 5 headerKeys: [] payload: only\n"
            ),
            "{out}"
        );

        args.print_data_log = false;
        args.deep_iteration = true;
        let (out, _) = run_on(&args);
        assert!(out.contains("| offset: 1 CreateTime: 1001 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [h1,h2]\n"));

        args.skip_record_metadata = true;
        args.print_data_log = true;
        let (out, _) = run_on(&args);
        assert!(out.contains("\n| key: k1 payload: v1\n"), "{out}");
        assert!(out.contains("\n| payload: only\n"), "{out}");

        // --max-bytes: whole batches only, no trailing-bytes report.
        let mut args = DumpLogArgs::new(vec![path.clone()]);
        args.max_bytes = Some(b0.len() as u64 + 10);
        let (out, _) = run_on(&args);
        assert_eq!(out.matches("baseOffset:").count(), 1);
        assert!(!out.contains("invalid bytes"));
    }

    #[test]
    fn reports_corruption_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let b0 = simple_batch(0, 3, 1_000);
        let b1 = simple_batch(3, 1, 2_000);
        let whole = segment(&[b0.clone(), b1.clone()]);
        let path = dir.path().join("00000000000000000000.log");

        // A flipped bit in the records: CRC check fails, dumping continues.
        let mut bad = whole.clone();
        bad[b0.len() - 3] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let mut args = DumpLogArgs::new(vec![path.clone()]);
        args.print_data_log = true;
        let (out, _) = run_on(&args);
        assert!(out.contains("isvalid: false"));
        assert!(out.contains("isvalid: true"));
        assert!(out.contains("payload: v0"));

        // Truncated: trailing bytes are reported.
        std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
        let (out, _) = run_on(&args);
        assert!(out.contains(&format!("Found {} invalid bytes at the end of 00000000000000000000.log", b1.len() - 5)));

        // A broken length field.
        let mut bad = whole.clone();
        bad[b0.len() + 8..b0.len() + 12].copy_from_slice(&3i32.to_be_bytes());
        std::fs::write(&path, &bad).unwrap();
        let (out, err) = run_on(&args);
        assert!(err.contains("Found record size 3 smaller than minimum record overhead"));
        assert!(out.contains(&format!("Found {} invalid bytes", b1.len())));

        // Every single-byte corruption and every truncation: no panic.
        for i in 0..whole.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = whole.clone();
                bad[i] ^= flip;
                std::fs::write(&path, &bad).unwrap();
                let _ = run_on(&args);
            }
            std::fs::write(&path, &whole[..i]).unwrap();
            let _ = run_on(&args);
        }
    }

    #[test]
    fn dumps_and_verifies_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let b0 = simple_batch(100, 2, 1_000);
        let b1 = simple_batch(102, 2, 2_000);
        std::fs::write(dir.path().join("00000000000000000100.log"), segment(&[b0.clone(), b1.clone()])).unwrap();
        let index = dir.path().join("00000000000000000100.index");
        let mut idx = Vec::new();
        idx.extend_from_slice(&1u32.to_be_bytes());
        idx.extend_from_slice(&0u32.to_be_bytes());
        idx.extend_from_slice(&3u32.to_be_bytes());
        idx.extend_from_slice(&(b0.len() as u32).to_be_bytes());
        idx.extend_from_slice(&[0; 16]); // preallocated tail
        std::fs::write(&index, &idx).unwrap();
        let timeindex = dir.path().join("00000000000000000100.timeindex");
        let mut tidx = Vec::new();
        tidx.extend_from_slice(&1_001i64.to_be_bytes());
        tidx.extend_from_slice(&1u32.to_be_bytes());
        tidx.extend_from_slice(&2_001i64.to_be_bytes());
        tidx.extend_from_slice(&3u32.to_be_bytes());
        std::fs::write(&timeindex, &tidx).unwrap();

        let args = DumpLogArgs::new(vec![index.clone(), timeindex.clone()]);
        let (out, err) = run_on(&args);
        assert_eq!(err, "", "{out}");
        assert!(out.contains(&format!("offset: 101 position: 0\noffset: 103 position: {}\nDumping", b0.len())));
        assert!(out.ends_with("timestamp: 1001 offset: 101\ntimestamp: 2001 offset: 103\n"));

        let mut args = DumpLogArgs::new(vec![index.clone(), timeindex.clone()]);
        args.index_sanity_check = true;
        let (out, _) = run_on(&args);
        assert!(out.contains(&format!("{} passed sanity check.", index.display())));
        assert!(out.contains(&format!("{} passed sanity check.", timeindex.display())));

        // Wrong entries are reported, --verify-index-only prints no entries.
        idx[3] = 2; // offset 102 at position 0: the batch there ends at 101
        std::fs::write(&index, &idx).unwrap();
        tidx[7] = 0xff; // timestamp 1023 instead of 1001
        std::fs::write(&timeindex, &tidx).unwrap();
        let mut args = DumpLogArgs::new(vec![index.clone(), timeindex.clone()]);
        args.verify_index_only = true;
        let (out, err) = run_on(&args);
        assert!(!out.contains("offset: 1"), "{out}");
        assert!(
            err.contains(&format!("Mismatches in :{}\n  Index offset: 102, log offset: 101\n", index.display())),
            "{err}"
        );
        assert!(err.contains("  Index timestamp: 1023, log timestamp: 1001\n"), "{err}");

        // Sanity failures.
        std::fs::write(&index, &idx[..13]).unwrap();
        let mut args = DumpLogArgs::new(vec![index.clone()]);
        args.index_sanity_check = true;
        let (out, err) = run_on(&args);
        assert!(err.contains("is corrupt, found 13 bytes which is neither positive nor a multiple of 8"));
        assert!(!out.contains("passed"));

        // Empty index.
        std::fs::write(&index, b"").unwrap();
        let (out, _) = run_on(&DumpLogArgs::new(vec![index.clone()]));
        assert!(out.contains(&format!("{} is empty.", index.display())));
    }

    #[test]
    fn dumps_producer_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000010.snapshot");
        let mut e = ProducerStateEntry {
            producer_id: 5,
            epoch: 2,
            batches: Default::default(),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        };
        e.batches.push_back(BatchMetadata {
            first_seq: 3,
            last_seq: 6,
            first_offset: 7,
            last_offset: 10,
            timestamp: 99,
        });
        std::fs::write(&path, encode_snapshot([&e].into_iter())).unwrap();
        let (out, err) = run_on(&DumpLogArgs::new(vec![path.clone()]));
        assert_eq!(err, "");
        assert!(out.ends_with(
            "producerId: 5 producerEpoch: 2 coordinatorEpoch: -1 currentTxnFirstOffset: OptionalLong.empty lastTimestamp: 99 firstSequence: 3 lastSequence: 6 lastOffset: 10 offsetDelta: 3 timestamp: 99\n"
        ), "{out}");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (_, err) = run_on(&DumpLogArgs::new(vec![path.clone()]));
        assert!(err.starts_with("Snapshot is corrupt (CRC is no longer valid)."), "{err}");
        for cut in 0..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (_, err) = run_on(&DumpLogArgs::new(vec![path.clone()]));
            assert!(err.starts_with("Snapshot"), "{err}");
        }
    }

    #[test]
    fn unknown_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("leader-epoch-checkpoint");
        std::fs::write(&other, b"0\n").unwrap();
        let missing = dir.path().join("00000000000000000000.log");
        let mut out = Vec::new();
        let mut err = Vec::new();
        let summary = run(&DumpLogArgs::new(vec![other.clone(), missing.clone()]), &mut out, &mut err).unwrap();
        assert_eq!(summary.unreadable_files, 1);
        let err = String::from_utf8(err).unwrap();
        assert!(err.starts_with(&format!("Ignoring unknown file {}\n", other.display())));
        assert!(err.contains(&format!("Cannot read {}", missing.display())));
    }

    #[test]
    fn control_records_and_transaction_markers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let mut b = BatchBuilder::new(0, 5).producer(9, 0, -1).transactional(true).control(true);
        let mut value = vec![0, 0];
        value.extend_from_slice(&3i32.to_be_bytes());
        b.push(Record::new(Some(vec![0, 0, 0, 1]), Some(value), 5));
        std::fs::write(&path, b.build()).unwrap();
        let mut args = DumpLogArgs::new(vec![path]);
        args.print_data_log = true;
        let (out, _) = run_on(&args);
        assert!(out.contains("isTransactional: true isControl: true"));
        assert!(out.contains(
            "| offset: 0 CreateTime: 5 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 3\n"
        ), "{out}");
    }

    #[test]
    fn offsets_and_transaction_decoders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let key =
            encode_key(&GroupRecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 0 }).unwrap();
        let value = encode_offset_commit_value(&OffsetCommitValue {
            offset: 12,
            leader_epoch: 0,
            metadata: "".into(),
            commit_timestamp: 77,
            expire_timestamp: -1,
        })
        .unwrap();
        let mut b = BatchBuilder::new(0, 1);
        b.push(Record::new(Some(key.clone()), Some(value), 1));
        b.push(Record::new(Some(key), None, 1));
        b.push(Record::new(None, Some(b"x".to_vec()), 1));
        b.push(Record::new(Some(vec![0, 3, 0, 1, b'g']), None, 1));
        b.push(Record::new(Some(vec![0x7f, 0xff]), None, 1));
        b.push(Record::new(Some(vec![0, 2, 0, 9]), Some(vec![0, 3]), 1));
        let mut bytes = b.build().to_vec();
        patch::set_partition_leader_epoch(&mut bytes, 0);
        std::fs::write(&path, &bytes).unwrap();
        let mut args = DumpLogArgs::new(vec![path.clone()]);
        args.offsets_decoder = true;
        let (out, _) = run_on(&args);
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        assert!(lines[0].ends_with(
            r#" key: {"type":"1","data":{"group":"g","topic":"t","partition":0}} payload: {"version":"3","data":{"offset":12,"leaderEpoch":0,"metadata":"","commitTimestamp":77}}"#
        ), "{}", lines[0]);
        assert!(lines[1].ends_with(r#"payload: <DELETE>"#));
        assert!(lines[2].ends_with(
            " key: Failed to decode message at offset 2 using offset topic decoder (message had a missing key)"
        ));
        assert!(lines[3]
            .ends_with(" key: Record type 3 (ConsumerGroupMetadataKey) at offset 3 is not decoded by weir, skipping."));
        assert!(lines[4].ends_with(" key: Unknown record type 32767 at offset 4, skipping."));
        assert!(
            lines[5].contains(
                " key: Error at offset 5, skipping. Could not read record with version 2 from key's buffer due to: "
            ),
            "{}",
            lines[5]
        );

        let tkey = encode_transaction_log_key(&TransactionLogKey { transactional_id: "tx".into() }).unwrap();
        let tvalue = encode_transaction_log_value(
            &TransactionLogValue {
                producer_id: 4,
                previous_producer_id: -1,
                next_producer_id: -1,
                producer_epoch: 1,
                transaction_timeout_ms: 60_000,
                transaction_status: 1,
                transaction_partitions: Some(vec![TransactionPartitions {
                    topic: "t".into(),
                    partition_ids: vec![0, 1],
                }]),
                transaction_last_update_timestamp_ms: 8,
                transaction_start_timestamp_ms: 7,
                client_transaction_version: 0,
            },
            0,
        )
        .unwrap();
        let mut b = BatchBuilder::new(0, 1);
        b.push(Record::new(Some(tkey.clone()), Some(tvalue), 1));
        b.push(Record::new(Some(tkey), None, 1));
        b.push(Record::new(Some(vec![0, 5]), Some(vec![1]), 1));
        std::fs::write(&path, b.build()).unwrap();
        let mut args = DumpLogArgs::new(vec![path]);
        args.transaction_log_decoder = true;
        let (out, _) = run_on(&args);
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        assert!(lines[0].ends_with(" key: transaction_metadata::transactionalId=tx payload: producerId:4,producerEpoch:1,state=Ongoing,partitions=[t-0,t-1],txnLastUpdateTimestamp=8,txnTimeoutMs=60000"), "{}", lines[0]);
        assert!(lines[1].ends_with(" key: transaction_metadata::transactionalId=tx payload: <DELETE>"));
        assert!(lines[2].ends_with(" key: unknown::version=5"));
    }

    #[test]
    fn cluster_metadata_decoder_prints_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let mut b = BatchBuilder::new(0, 1);
        b.push(Record::new(None, Some(br#"{"type":"Topic","name":"t"}"#.to_vec()), 1));
        b.push(Record::new(None, Some(b"not json".to_vec()), 1));
        std::fs::write(&path, b.build()).unwrap();
        let mut args = DumpLogArgs::new(vec![path]);
        args.cluster_metadata_decoder = true;
        let (out, _) = run_on(&args);
        assert!(out.contains(r#"headerKeys: [] payload: {"type":"Topic","name":"t"}"#));
        assert!(out.contains("payload: Error at 1, skipping. Could not deserialize metadata record"));
    }

    #[test]
    fn sequences_wrap_like_java() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(decrement_sequence(0, 1), i32::MAX);
        assert_eq!(decrement_sequence(8, 3), 5);
    }
}
