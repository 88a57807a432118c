//! Small durable files in Kafka's formats, each written atomically (temp
//! file, fsync, rename, fsync the directory):
//!
//! - offset checkpoints (`recovery-point-offset-checkpoint`,
//!   `replication-offset-checkpoint`, `log-start-offset-checkpoint`,
//!   `cleaner-offset-checkpoint`): `0\n<count>\n<topic> <partition> <offset>\n...`
//! - `leader-epoch-checkpoint`: `0\n<count>\n<epoch> <start offset>\n...`
//! - `partition.metadata`: `version: 0\ntopic_id: <base64 uuid>\n`
//! - `meta.properties` and the `.kafka_cleanshutdown` marker
//!   (`{"version":0,"brokerEpoch":<epoch>}`, Kafka's
//!   `CleanShutdownFileHandler`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use uuid::Uuid;

use super::{Result, StorageError, TopicPartition};

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const REPLICATION_CHECKPOINT: &str = "replication-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub const META_PROPERTIES: &str = "meta.properties";
pub const PARTITION_METADATA: &str = "partition.metadata";
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Writes `contents` to `path` atomically and durably.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let io = |e| StorageError::io(path.display().to_string(), e);
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(contents).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The clean-shutdown marker's contents for a stop at `broker_epoch`.
pub fn clean_shutdown_contents(broker_epoch: i64) -> Vec<u8> {
    format!("{{\"version\":0,\"brokerEpoch\":{broker_epoch}}}").into_bytes()
}

/// The broker epoch in `dir`'s clean-shutdown marker: None when there is
/// no marker (the last stop was a crash) or it cannot be read.
pub fn read_clean_shutdown_epoch(dir: &Path) -> Option<i64> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Content {
        version: i32,
        broker_epoch: i64,
    }
    let text = fs::read_to_string(dir.join(CLEAN_SHUTDOWN_FILE)).ok()?;
    let content: Content = serde_json::from_str(&text).ok()?;
    (content.version == 0).then_some(content.broker_epoch)
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path.display().to_string(), e)),
    }
}

fn corrupt(path: &Path) -> StorageError {
    StorageError::CorruptFile(path.display().to_string())
}

/// Parses `0\n<count>\n<line>...`, returning the entry lines.
fn parse_versioned_lines(path: &Path, text: &str) -> Result<Vec<String>> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(corrupt(path));
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| corrupt(path))?;
    let entries: Vec<String> = lines.filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    if entries.len() != count {
        return Err(corrupt(path));
    }
    Ok(entries)
}

pub fn read_offset_checkpoint(path: &Path) -> Result<BTreeMap<TopicPartition, i64>> {
    let Some(text) = read_optional(path)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for line in parse_versioned_lines(path, &text)? {
        let mut parts = line.split_whitespace();
        let (Some(topic), Some(p), Some(o), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt(path));
        };
        let partition: i32 = p.parse().map_err(|_| corrupt(path))?;
        let offset: i64 = o.parse().map_err(|_| corrupt(path))?;
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    Ok(out)
}

pub fn write_offset_checkpoint(path: &Path, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    let mut s = format!("0\n{}\n", offsets.len());
    for (tp, off) in offsets {
        s.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, off));
    }
    write_atomic(path, s.as_bytes())
}

/// `(epoch, start offset)` pairs in increasing order.
pub fn read_leader_epoch_checkpoint(path: &Path) -> Result<Vec<(i32, i64)>> {
    let Some(text) = read_optional(path)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for line in parse_versioned_lines(path, &text)? {
        let mut parts = line.split_whitespace();
        let (Some(e), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt(path));
        };
        out.push((e.parse().map_err(|_| corrupt(path))?, o.parse().map_err(|_| corrupt(path))?));
    }
    Ok(out)
}

pub fn write_leader_epoch_checkpoint(path: &Path, entries: &[(i32, i64)]) -> Result<()> {
    let mut s = format!("0\n{}\n", entries.len());
    for (e, o) in entries {
        s.push_str(&format!("{e} {o}\n"));
    }
    write_atomic(path, s.as_bytes())
}

/// Kafka's `Uuid.toString()`: URL-safe base64 without padding.
pub fn uuid_to_base64(id: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn uuid_from_base64(s: &str) -> Option<Uuid> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// A random UUID as Kafka makes them: never zero, never one whose base64
/// form starts with '-' (it would read as a command-line flag).
pub fn random_kafka_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() && !uuid_to_base64(id).starts_with('-') {
            return id;
        }
    }
}

pub fn read_partition_metadata(dir: &Path) -> Result<Option<Uuid>> {
    let path = dir.join(PARTITION_METADATA);
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("topic_id:") {
            return uuid_from_base64(v).map(Some).ok_or_else(|| corrupt(&path));
        }
    }
    Err(corrupt(&path))
}

pub fn write_partition_metadata(dir: &Path, topic_id: Uuid) -> Result<()> {
    let s = format!("version: 0\ntopic_id: {}\n", uuid_to_base64(topic_id));
    write_atomic(&dir.join(PARTITION_METADATA), s.as_bytes())
}

/// `meta.properties` of a log directory (KRaft layout, version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: Uuid,
}

pub fn read_meta_properties(dir: &Path) -> Result<Option<MetaProperties>> {
    let path = dir.join(META_PROPERTIES);
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    let props = crate::config::properties::parse(&text);
    let cluster_id = props.get("cluster.id").cloned().ok_or_else(|| corrupt(&path))?;
    let node_id = props
        .get("node.id")
        .or_else(|| props.get("broker.id"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(&path))?;
    let directory_id = props.get("directory.id").and_then(|v| uuid_from_base64(v)).unwrap_or_else(random_kafka_uuid);
    Ok(Some(MetaProperties { cluster_id, node_id, directory_id }))
}

pub fn write_meta_properties(dir: &Path, meta: &MetaProperties) -> Result<()> {
    let s = format!(
        "#\n#Written by weir\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion=1\n",
        meta.cluster_id,
        uuid_to_base64(meta.directory_id),
        meta.node_id
    );
    write_atomic(&dir.join(META_PROPERTIES), s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marker names the broker epoch of the clean stop; anything else
    /// (no marker, an unreadable one, an unknown version) proves nothing.
    #[test]
    fn clean_shutdown_marker_epoch() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_clean_shutdown_epoch(dir.path()), None);
        write_atomic(&dir.path().join(CLEAN_SHUTDOWN_FILE), &clean_shutdown_contents(42)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(CLEAN_SHUTDOWN_FILE)).unwrap(),
            r#"{"version":0,"brokerEpoch":42}"#
        );
        assert_eq!(read_clean_shutdown_epoch(dir.path()), Some(42));
        fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"{\"version\":1,\"brokerEpoch\":42}").unwrap();
        assert_eq!(read_clean_shutdown_epoch(dir.path()), None);
        fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"").unwrap();
        assert_eq!(read_clean_shutdown_epoch(dir.path()), None);
    }

    #[test]
    fn offset_checkpoint_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        assert!(read_offset_checkpoint(&path).unwrap().is_empty());
        let mut m = BTreeMap::new();
        m.insert(TopicPartition::new("a-b", 0), 10);
        m.insert(TopicPartition::new("c", 3), 7);
        write_offset_checkpoint(&path, &m).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "0\n2\na-b 0 10\nc 3 7\n");
        assert_eq!(read_offset_checkpoint(&path).unwrap(), m);
        fs::write(&path, "0\n3\na 0 1\n").unwrap();
        assert!(read_offset_checkpoint(&path).is_err());
    }

    #[test]
    fn leader_epochs_and_partition_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(LEADER_EPOCH_CHECKPOINT);
        write_leader_epoch_checkpoint(&p, &[(0, 0), (3, 120)]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "0\n2\n0 0\n3 120\n");
        assert_eq!(read_leader_epoch_checkpoint(&p).unwrap(), vec![(0, 0), (3, 120)]);
        let id = random_kafka_uuid();
        write_partition_metadata(dir.path(), id).unwrap();
        assert_eq!(read_partition_metadata(dir.path()).unwrap(), Some(id));
        assert_eq!(uuid_to_base64(id).len(), 22);
    }

    #[test]
    fn meta_properties_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaProperties { cluster_id: "abc".into(), node_id: 3, directory_id: random_kafka_uuid() };
        write_meta_properties(dir.path(), &m).unwrap();
        assert_eq!(read_meta_properties(dir.path()).unwrap(), Some(m));
    }
}
