//! Definitions of every configuration Weir knows: Kafka's names, types,
//! defaults and validation rules, for brokers (`server.properties`) and for
//! topics (LogConfig), plus the broker synonyms of each topic config
//! (Kafka's `ServerTopicConfigSynonyms`).

/// Kafka's `ConfigDef.Type`, with the ids DescribeConfigs v3+ reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// A validation rule beyond the type.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    None,
    AtLeast(i64),
    Between(f64, f64),
    /// Between the two, or -1 (the codec's own default level, as Kafka's
    /// gzip `LevelValidator` allows).
    LevelOrDefault(f64, f64),
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items are each one of these.
    ListOf(&'static [&'static str]),
}

/// One configuration: name, type, default (`None` = null), rule, doc.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    pub default: Option<&'static str>,
    pub check: Check,
    pub doc: &'static str,
}

/// How a broker synonym's value maps onto the topic config's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Same,
    MinutesToMs,
    HoursToMs,
}

impl Unit {
    pub fn convert(self, value: &str) -> String {
        let factor = match self {
            Unit::Same => return value.to_string(),
            Unit::MinutesToMs => 60_000i64,
            Unit::HoursToMs => 3_600_000i64,
        };
        match value.trim().parse::<i64>() {
            Ok(v) => v.saturating_mul(factor).to_string(),
            Err(_) => value.to_string(),
        }
    }
}

/// A topic config and the broker configs that supply its default, most
/// specific first (e.g. `log.retention.ms`, then `.minutes`, then `.hours`).
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub def: ConfigDef,
    pub synonyms: &'static [(&'static str, Unit)],
}

const fn d(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    check: Check,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef { name, ty, default, check, doc }
}

const fn t(def: ConfigDef, synonyms: &'static [(&'static str, Unit)]) -> TopicConfigDef {
    TopicConfigDef { def, synonyms }
}

use Check::*;
use ConfigType::String as Str;
use ConfigType::{Boolean, Class, Double, Int, List, Long, Password, Short};

pub const MAX_LONG: &str = "9223372036854775807";
pub const MAX_INT: &str = "2147483647";
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const CLEANUP_POLICIES: &[&str] = &["delete", "compact"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// Every topic-level config of Apache Kafka 4.x.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    t(d("cleanup.policy", List, Some("delete"), ListOf(CLEANUP_POLICIES), "The retention policy to use on log segments: delete, compact, or both."), &[("log.cleanup.policy", Unit::Same)]),
    t(d("compression.gzip.level", Int, Some("-1"), LevelOrDefault(1.0, 9.0), "The compression level to use if compression.type is set to gzip."), &[("compression.gzip.level", Unit::Same)]),
    t(d("compression.lz4.level", Int, Some("9"), Between(1.0, 17.0), "The compression level to use if compression.type is set to lz4."), &[("compression.lz4.level", Unit::Same)]),
    t(d("compression.type", Str, Some("producer"), OneOf(COMPRESSION_TYPES), "The final compression type for a given topic; 'producer' retains the codec set by the producer."), &[("compression.type", Unit::Same)]),
    t(d("compression.zstd.level", Int, Some("3"), Between(-131072.0, 22.0), "The compression level to use if compression.type is set to zstd."), &[("compression.zstd.level", Unit::Same)]),
    t(d("delete.retention.ms", Long, Some("86400000"), AtLeast(0), "The amount of time to retain delete tombstone markers for log compacted topics."), &[("log.cleaner.delete.retention.ms", Unit::Same)]),
    t(d("file.delete.delay.ms", Long, Some("60000"), AtLeast(0), "The time to wait before deleting a file from the filesystem."), &[("log.segment.delete.delay.ms", Unit::Same)]),
    t(d("flush.messages", Long, Some(MAX_LONG), AtLeast(1), "The number of messages written to a log partition before an fsync is forced."), &[("log.flush.interval.messages", Unit::Same)]),
    t(d("flush.ms", Long, Some(MAX_LONG), AtLeast(0), "The maximum time a message may sit in the log before an fsync is forced."), &[("log.flush.interval.ms", Unit::Same), ("log.flush.scheduler.interval.ms", Unit::Same)]),
    t(d("follower.replication.throttled.replicas", List, Some(""), None, "A list of replicas for which log replication should be throttled on the follower side."), &[]),
    t(d("index.interval.bytes", Int, Some("4096"), AtLeast(0), "How frequently Kafka adds an index entry to its offset index."), &[("log.index.interval.bytes", Unit::Same)]),
    t(d("leader.replication.throttled.replicas", List, Some(""), None, "A list of replicas for which log replication should be throttled on the leader side."), &[]),
    t(d("local.retention.bytes", Long, Some("-2"), AtLeast(-2), "The maximum size of local log segments before deletion (tiered storage); -2 means retention.bytes."), &[("log.local.retention.bytes", Unit::Same)]),
    t(d("local.retention.ms", Long, Some("-2"), AtLeast(-2), "The time to retain local log segments (tiered storage); -2 means retention.ms."), &[("log.local.retention.ms", Unit::Same)]),
    t(d("max.compaction.lag.ms", Long, Some(MAX_LONG), AtLeast(1), "The maximum time a message will remain ineligible for compaction in the log."), &[("log.cleaner.max.compaction.lag.ms", Unit::Same)]),
    t(d("max.message.bytes", Int, Some("1048588"), AtLeast(0), "The largest record batch size allowed by Kafka (after compression if compression is enabled)."), &[("message.max.bytes", Unit::Same)]),
    t(d("message.timestamp.after.max.ms", Long, Some("3600000"), AtLeast(0), "The maximum allowed difference between a future message timestamp and the broker's timestamp."), &[("log.message.timestamp.after.max.ms", Unit::Same)]),
    t(d("message.timestamp.before.max.ms", Long, Some(MAX_LONG), AtLeast(0), "The maximum allowed difference between a past message timestamp and the broker's timestamp."), &[("log.message.timestamp.before.max.ms", Unit::Same)]),
    t(d("message.timestamp.type", Str, Some("CreateTime"), OneOf(TIMESTAMP_TYPES), "Define whether the timestamp in the message is message create time or log append time."), &[("log.message.timestamp.type", Unit::Same)]),
    t(d("min.cleanable.dirty.ratio", Double, Some("0.5"), Between(0.0, 1.0), "How frequently the log compactor will attempt to clean the log."), &[("log.cleaner.min.cleanable.ratio", Unit::Same)]),
    t(d("min.compaction.lag.ms", Long, Some("0"), AtLeast(0), "The minimum time a message will remain uncompacted in the log."), &[("log.cleaner.min.compaction.lag.ms", Unit::Same)]),
    t(d("min.insync.replicas", Int, Some("1"), AtLeast(1), "The minimum number of replicas that must acknowledge a write for acks=all to succeed."), &[("min.insync.replicas", Unit::Same)]),
    t(d("preallocate", Boolean, Some("false"), None, "True if we should preallocate the file on disk when creating a new log segment."), &[("log.preallocate", Unit::Same)]),
    t(d("remote.log.copy.disable", Boolean, Some("false"), None, "Disables copying of log segments to tiered storage."), &[]),
    t(d("remote.log.delete.on.disable", Boolean, Some("false"), None, "Deletes remote data when tiered storage is disabled for the topic."), &[]),
    t(d("remote.storage.enable", Boolean, Some("false"), None, "To enable tiered storage for a topic."), &[]),
    t(d("retention.bytes", Long, Some("-1"), None, "The maximum size a partition can grow to before old log segments are discarded; -1 means no limit."), &[("log.retention.bytes", Unit::Same)]),
    t(d("retention.ms", Long, Some("604800000"), AtLeast(-1), "The maximum time a log is retained before old log segments are discarded; -1 means no limit."), &[("log.retention.ms", Unit::Same), ("log.retention.minutes", Unit::MinutesToMs), ("log.retention.hours", Unit::HoursToMs)]),
    t(d("segment.bytes", Int, Some("1073741824"), AtLeast(1_048_576), "The segment file size for the log."), &[("log.segment.bytes", Unit::Same)]),
    t(d("segment.index.bytes", Int, Some("10485760"), AtLeast(4), "The size of the index that maps offsets to file positions."), &[("log.index.size.max.bytes", Unit::Same)]),
    t(d("segment.jitter.ms", Long, Some("0"), AtLeast(0), "The maximum random jitter subtracted from the scheduled segment roll time."), &[("log.roll.jitter.ms", Unit::Same), ("log.roll.jitter.hours", Unit::HoursToMs)]),
    t(d("segment.ms", Long, Some("604800000"), AtLeast(1), "The period of time after which Kafka will force the log to roll even if the segment file isn't full."), &[("log.roll.ms", Unit::Same), ("log.roll.hours", Unit::HoursToMs)]),
    t(d("unclean.leader.election.enable", Boolean, Some("false"), None, "Whether replicas not in the ISR may be elected as leader as a last resort, even though doing so may result in data loss."), &[("unclean.leader.election.enable", Unit::Same)]),
];

/// Broker configurations. Weir's defaults differ from Kafka's only where
/// the embedded single node needs it (listeners, log.dirs, node.id,
/// process.roles), and say so in their doc.
pub const BROKER_CONFIGS: &[ConfigDef] = &[
    d("node.id", Int, Some("1"), AtLeast(-1), "The node id of this server (Weir defaults to 1 so a bare `weir serve` runs)."),
    d("broker.id", Int, Option::None, AtLeast(-1), "Legacy name of node.id."),
    d("process.roles", List, Some("broker,controller"), ListOf(&["broker", "controller"]), "The roles this process plays: broker, controller, or both."),
    d("listeners", List, Some("PLAINTEXT://localhost:9092"), None, "Listener URIs, comma-separated, e.g. PLAINTEXT://host:9092."),
    d("advertised.listeners", Str, Option::None, None, "Listeners to publish to clients if different from listeners."),
    d("listener.security.protocol.map", Str, Some("CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), None, "Map between listener names and security protocols."),
    d("inter.broker.listener.name", Str, Option::None, None, "Name of listener used for communication between brokers."),
    d("controller.listener.names", Str, Option::None, None, "Names of the listeners used by the controller."),
    d("controller.quorum.voters", List, Option::None, None, "Map of id/endpoint of the controller quorum voters: id1@host1:port1,id2@host2:port2."),
    d("controller.quorum.bootstrap.servers", List, Option::None, None, "Endpoints used to discover the controller quorum."),
    d("broker.rack", Str, Option::None, None, "Rack of the broker, used for rack-aware replica placement and follower fetching."),
    d("log.dirs", Str, Option::None, None, "Directories in which the log data is kept; if unset, log.dir is used."),
    d("log.dir", Str, Some("./data"), None, "The directory in which the log data is kept (Weir defaults to ./data)."),
    d("metadata.log.dir", Str, Option::None, None, "Directory of the cluster metadata log; defaults to the first of log.dirs."),
    d("num.partitions", Int, Some("1"), AtLeast(1), "The default number of log partitions per topic."),
    d("default.replication.factor", Int, Some("1"), AtLeast(1), "The replication factor for automatically created topics and for CreateTopics with -1."),
    d("auto.create.topics.enable", Boolean, Some("true"), None, "Enable auto creation of topics on the server."),
    d("delete.topic.enable", Boolean, Some("true"), None, "Enables delete topic."),
    d("message.max.bytes", Int, Some("1048588"), AtLeast(0), "The largest record batch size allowed by Kafka."),
    d("socket.request.max.bytes", Int, Some("104857600"), AtLeast(1), "The maximum number of bytes in a socket request."),
    d("socket.send.buffer.bytes", Int, Some("102400"), None, "The SO_SNDBUF buffer of the socket server sockets; -1 for the OS default."),
    d("socket.receive.buffer.bytes", Int, Some("102400"), None, "The SO_RCVBUF buffer of the socket server sockets; -1 for the OS default."),
    d("max.connections", Int, Some(MAX_INT), AtLeast(0), "The maximum number of connections the broker allows."),
    d("max.connections.per.ip", Int, Some(MAX_INT), AtLeast(0), "The maximum number of connections allowed from each ip address; 0 only with max.connections.per.ip.overrides."),
    d("max.connections.per.ip.overrides", Str, Some(""), None, "A comma-separated list of per-ip or hostname overrides of max.connections.per.ip, e.g. hostName:100,127.0.0.1:200."),
    d("connections.max.idle.ms", Long, Some("600000"), None, "Idle connections timeout: the server closes connections idle for longer than this."),
    d("num.network.threads", Int, Some("3"), AtLeast(1), "Accepted for compatibility; Weir's network layer runs on the async runtime."),
    d("num.io.threads", Int, Some("8"), AtLeast(1), "Accepted for compatibility; Weir's request handling runs on the async runtime."),
    d("queued.max.requests", Int, Some("500"), AtLeast(1), "The number of queued requests allowed before blocking the network threads."),
    d("log.segment.bytes", Int, Some("1073741824"), AtLeast(1_048_576), "The maximum size of a single log file."),
    d("log.roll.ms", Long, Option::None, None, "The maximum time before a new log segment is rolled out (in milliseconds)."),
    d("log.roll.hours", Int, Some("168"), AtLeast(1), "The maximum time before a new log segment is rolled out (in hours)."),
    d("log.roll.jitter.ms", Long, Option::None, None, "The maximum jitter to subtract from logRollTimeMillis (in milliseconds)."),
    d("log.roll.jitter.hours", Int, Some("0"), AtLeast(0), "The maximum jitter to subtract from logRollTimeMillis (in hours)."),
    d("log.retention.ms", Long, Option::None, None, "The number of milliseconds to keep a log file before deleting it."),
    d("log.retention.minutes", Int, Option::None, None, "The number of minutes to keep a log file before deleting it."),
    d("log.retention.hours", Int, Some("168"), None, "The number of hours to keep a log file before deleting it."),
    d("log.retention.bytes", Long, Some("-1"), None, "The maximum size of the log before deleting it."),
    d("log.retention.check.interval.ms", Long, Some("300000"), AtLeast(1), "The frequency with which the log cleaner checks whether any log is eligible for deletion."),
    d("log.cleanup.policy", List, Some("delete"), ListOf(CLEANUP_POLICIES), "The default cleanup policy for segments beyond the retention window."),
    d("log.index.size.max.bytes", Int, Some("10485760"), AtLeast(4), "The maximum size in bytes of the offset index."),
    d("log.index.interval.bytes", Int, Some("4096"), AtLeast(0), "The interval with which we add an entry to the offset index."),
    d("log.flush.interval.messages", Long, Some(MAX_LONG), AtLeast(1), "The number of messages accumulated on a log partition before messages are flushed to disk."),
    d("log.flush.interval.ms", Long, Option::None, None, "The maximum time in ms that a message in any topic is kept in memory before flushed to disk."),
    d("log.flush.scheduler.interval.ms", Long, Some(MAX_LONG), None, "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk."),
    d("log.flush.offset.checkpoint.interval.ms", Int, Some("60000"), AtLeast(0), "The frequency with which we update the persistent record of the last flush."),
    d("log.flush.start.offset.checkpoint.interval.ms", Int, Some("60000"), AtLeast(0), "The frequency with which we update the persistent record of log start offset."),
    d("log.segment.delete.delay.ms", Long, Some("60000"), AtLeast(0), "The amount of time to wait before deleting a file from the filesystem."),
    d("log.preallocate", Boolean, Some("false"), None, "Should pre allocate file when create new segment?"),
    d("log.message.timestamp.type", Str, Some("CreateTime"), OneOf(TIMESTAMP_TYPES), "Whether the timestamp in the message is create time or log append time."),
    d("log.message.timestamp.before.max.ms", Long, Some(MAX_LONG), AtLeast(0), "The maximum allowed difference between a past message timestamp and the broker's timestamp."),
    d("log.message.timestamp.after.max.ms", Long, Some("3600000"), AtLeast(0), "The maximum allowed difference between a future message timestamp and the broker's timestamp."),
    d("log.local.retention.ms", Long, Some("-2"), AtLeast(-2), "Tiered storage local retention time; -2 means log.retention.ms."),
    d("log.local.retention.bytes", Long, Some("-2"), AtLeast(-2), "Tiered storage local retention size; -2 means log.retention.bytes."),
    d("log.cleaner.enable", Boolean, Some("true"), None, "Enable the log cleaner process to run on the server. Should be enabled if using any topics with a cleanup.policy=compact including the internal offsets topic. If disabled those topics will not be compacted and continually grow in size."),
    d("log.cleaner.threads", Int, Some("1"), AtLeast(0), "The number of background threads to use for log cleaning"),
    d("log.cleaner.min.cleanable.ratio", Double, Some("0.5"), Between(0.0, 1.0), "The minimum ratio of dirty log to total log for a log to eligible for cleaning. If the log.cleaner.max.compaction.lag.ms or the log.cleaner.min.compaction.lag.ms configurations are also specified, then the log compactor considers the log eligible for compaction as soon as either: (i) the dirty ratio threshold has been met and the log has had dirty (uncompacted) records for at least the log.cleaner.min.compaction.lag.ms duration, or (ii) if the log has had dirty (uncompacted) records for at most the log.cleaner.max.compaction.lag.ms period."),
    d("log.cleaner.delete.retention.ms", Long, Some("86400000"), AtLeast(0), "The amount of time to retain tombstone message markers for log compacted topics. This setting also gives a bound on the time in which a consumer must complete a read if they begin from offset 0 to ensure that they get a valid snapshot of the final stage (otherwise  tombstones messages may be collected before a consumer completes their scan)."),
    d("log.cleaner.min.compaction.lag.ms", Long, Some("0"), AtLeast(0), "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted."),
    d("log.cleaner.max.compaction.lag.ms", Long, Some(MAX_LONG), AtLeast(1), "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted."),
    d("log.cleaner.io.max.bytes.per.second", Double, Some("1.7976931348623157E308"), None, "The log cleaner will be throttled so that the sum of its read and write i/o will be less than this value on average"),
    d("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), None, "The total memory used for log deduplication across all cleaner threads"),
    d("log.cleaner.io.buffer.size", Int, Some("524288"), AtLeast(0), "The total memory used for log cleaner I/O buffers across all cleaner threads"),
    d("log.cleaner.io.buffer.load.factor", Double, Some("0.9"), None, "Log cleaner dedupe buffer load factor. The percentage full the dedupe buffer can become. A higher value will allow more log to be cleaned at once but will lead to more hash collisions"),
    d("log.cleaner.backoff.ms", Long, Some("15000"), AtLeast(0), "The amount of time to sleep when there are no logs to clean"),
    d("num.recovery.threads.per.data.dir", Int, Some("2"), AtLeast(1), "The number of threads per data directory to be used for log recovery at startup and flushing at shutdown."),
    d("min.insync.replicas", Int, Some("1"), AtLeast(1), "The minimum number of replicas that must acknowledge a write for acks=all to succeed."),
    d("unclean.leader.election.enable", Boolean, Some("false"), None, "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort."),
    d("compression.type", Str, Some("producer"), OneOf(COMPRESSION_TYPES), "The final compression type for a given topic."),
    d("compression.gzip.level", Int, Some("-1"), LevelOrDefault(1.0, 9.0), "The compression level to use if compression.type is set to gzip."),
    d("compression.lz4.level", Int, Some("9"), Between(1.0, 17.0), "The compression level to use if compression.type is set to lz4."),
    d("compression.zstd.level", Int, Some("3"), Between(-131072.0, 22.0), "The compression level to use if compression.type is set to zstd."),
    d("replica.lag.time.max.ms", Long, Some("30000"), AtLeast(0), "If a follower hasn't caught up to the leader's log end offset for at least this time, the leader removes it from the ISR."),
    d("replica.fetch.max.bytes", Int, Some("1048576"), AtLeast(0), "The number of bytes of messages to attempt to fetch for each partition."),
    d("replica.fetch.response.max.bytes", Int, Some("10485760"), AtLeast(0), "Maximum bytes expected for the entire fetch response."),
    d("replica.fetch.wait.max.ms", Int, Some("500"), AtLeast(0), "The maximum wait time for each fetcher request issued by follower replicas."),
    d("replica.fetch.min.bytes", Int, Some("1"), AtLeast(0), "Minimum bytes expected for each fetch response."),
    d("replica.fetch.backoff.ms", Int, Some("1000"), AtLeast(0), "The amount of time to sleep when fetch partition error occurs."),
    d("replica.socket.timeout.ms", Int, Some("30000"), None, "The socket timeout for network requests."),
    d("replica.selector.class", Str, Option::None, None, "The fully qualified class name that implements ReplicaSelector."),
    d("num.replica.fetchers", Int, Some("1"), AtLeast(1), "Number of fetcher threads used to replicate records from each source broker."),
    d("broker.session.timeout.ms", Int, Some("9000"), AtLeast(1), "The length of time in milliseconds that a broker lease lasts if no heartbeats are made."),
    d("broker.heartbeat.interval.ms", Int, Some("2000"), AtLeast(1), "The length of time in milliseconds between broker heartbeats."),
    d("auto.leader.rebalance.enable", Boolean, Some("true"), None, "Enables auto leader balancing."),
    d("leader.imbalance.check.interval.seconds", Long, Some("300"), AtLeast(1), "The frequency with which the partition rebalance check is triggered by the controller."),
    d("leader.imbalance.per.broker.percentage", Int, Some("10"), AtLeast(0), "The ratio of leader imbalance allowed per broker."),
    d("offsets.topic.num.partitions", Int, Some("50"), AtLeast(1), "The number of partitions for the offset commit topic."),
    d("offsets.topic.replication.factor", Short, Some("3"), AtLeast(1), "The replication factor for the offsets topic."),
    d("offsets.topic.segment.bytes", Int, Some("104857600"), AtLeast(1), "The offsets topic segment bytes."),
    d("offsets.retention.minutes", Int, Some("10080"), AtLeast(1), "For subscribed consumers, committed offset of a partition is expired after the group is empty for this period."),
    d("offsets.retention.check.interval.ms", Long, Some("600000"), AtLeast(1), "Frequency at which to check for stale offsets."),
    d("offsets.commit.timeout.ms", Int, Some("5000"), AtLeast(1), "Offset commit will be delayed until all replicas for the offsets topic receive the commit or this timeout is reached."),
    d("offset.metadata.max.bytes", Int, Some("4096"), None, "The maximum size for a metadata entry associated with an offset commit."),
    d("group.initial.rebalance.delay.ms", Int, Some("3000"), None, "The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance."),
    d("group.min.session.timeout.ms", Int, Some("6000"), None, "The minimum allowed session timeout for registered consumers."),
    d("group.max.session.timeout.ms", Int, Some("1800000"), None, "The maximum allowed session timeout for registered consumers."),
    d("group.max.size", Int, Some(MAX_INT), AtLeast(1), "The maximum number of consumers that a single consumer group can accommodate."),
    d("transaction.state.log.num.partitions", Int, Some("50"), AtLeast(1), "The number of partitions for the transaction topic."),
    d("transaction.state.log.replication.factor", Short, Some("3"), AtLeast(1), "Replication factor for the transaction topic."),
    d("transaction.state.log.min.isr", Int, Some("2"), AtLeast(1), "The minimum number of replicas that must acknowledge a write to the transaction topic."),
    d("transaction.max.timeout.ms", Int, Some("900000"), AtLeast(1), "The maximum allowed timeout for transactions."),
    d("transaction.state.log.segment.bytes", Int, Some("104857600"), AtLeast(1), "The transaction topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads"),
    d("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, Some("10000"), AtLeast(1), "The interval at which to rollback transactions that have timed out"),
    d("transaction.remove.expired.transaction.cleanup.interval.ms", Int, Some("3600000"), AtLeast(1), "The interval at which to remove transactions that have expired due to <code>transactional.id.expiration.ms</code> passing"),
    d("transaction.partition.verification.enable", Boolean, Some("true"), None, "Enable verification that checks that the partition has been added to the transaction before writing transactional records to the partition"),
    d("transactional.id.expiration.ms", Int, Some("604800000"), AtLeast(1), "The time the transaction coordinator waits without a status update before expiring a transactional id."),
    d("producer.id.expiration.ms", Int, Some("86400000"), AtLeast(1), "The time a topic partition leader waits before expiring producer IDs."),
];

/// Broker configs that AlterConfigs may change at runtime (per broker or
/// as the cluster default): every broker synonym of a topic config, plus
/// the thread and throttle settings Kafka also reconfigures live.
pub fn is_dynamic_broker_config(name: &str) -> bool {
    const OTHERS: &[&str] = &[
        "log.cleaner.threads",
        "log.cleaner.io.max.bytes.per.second",
        "log.cleaner.dedupe.buffer.size",
        "log.cleaner.io.buffer.size",
        "log.cleaner.io.buffer.load.factor",
        "log.cleaner.backoff.ms",
        "max.connections",
        "max.connections.per.ip",
        "max.connections.per.ip.overrides",
        "num.io.threads",
        "num.network.threads",
        "num.replica.fetchers",
        "num.recovery.threads.per.data.dir",
    ];
    OTHERS.contains(&name) || TOPIC_CONFIGS.iter().any(|t| t.synonyms.iter().any(|(s, _)| *s == name))
}

pub fn topic_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|t| t.def.name == name)
}

pub fn broker_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks `value` against the definition's type and rule; the message is
/// what Kafka puts in INVALID_CONFIG / startup errors.
pub fn validate(def: &ConfigDef, value: &str) -> Result<(), String> {
    let v = value.trim();
    let bad = |why: &str| Err(format!("Invalid value {value} for configuration {}: {why}", def.name));
    let number: Option<f64> = match def.ty {
        Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return bad("Expected value to be either true or false");
            }
            Option::None
        }
        Int => match v.parse::<i32>() {
            Ok(n) => Some(n as f64),
            Err(_) => return bad("Not a number of type INT"),
        },
        Short => match v.parse::<i16>() {
            Ok(n) => Some(n as f64),
            Err(_) => return bad("Not a number of type SHORT"),
        },
        Long => match v.parse::<i64>() {
            Ok(n) => Some(n as f64),
            Err(_) => return bad("Not a number of type LONG"),
        },
        Double => match v.parse::<f64>() {
            Ok(n) => Some(n),
            Err(_) => return bad("Not a number of type DOUBLE"),
        },
        Str | List | Class | Password => Option::None,
    };
    match def.check {
        None => Ok(()),
        AtLeast(min) => match number {
            Some(n) if n < min as f64 => bad(&format!("Value must be at least {min}")),
            _ => Ok(()),
        },
        Between(lo, hi) => match number {
            Some(n) if n < lo || n > hi => bad(&format!("Value must be no less than {lo} and no more than {hi}")),
            _ => Ok(()),
        },
        LevelOrDefault(lo, hi) => match number {
            Some(n) if n != -1.0 && (n < lo || n > hi) => {
                bad(&format!("Value must be -1 or no less than {lo} and no more than {hi}"))
            }
            _ => Ok(()),
        },
        OneOf(allowed) => {
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                bad(&format!("String must be one of: {}", allowed.join(", ")))
            }
        }
        ListOf(allowed) => {
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !allowed.contains(&item) {
                    return bad(&format!("[{item}] is not in the allowed list {allowed:?}"));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_validation() {
        for t in TOPIC_CONFIGS {
            if let Some(v) = t.def.default {
                validate(&t.def, v).unwrap();
            }
            for (syn, _) in t.synonyms {
                assert!(broker_def(syn).is_some(), "synonym {syn} of {} undefined", t.def.name);
            }
        }
        for b in BROKER_CONFIGS {
            if let Some(v) = b.default {
                validate(b, v).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn rejects_bad_values() {
        let seg = &topic_def("segment.bytes").unwrap().def;
        assert!(validate(seg, "abc").is_err());
        assert!(validate(seg, "100").is_err());
        assert!(validate(seg, "1048576").is_ok());
        let cp = &topic_def("cleanup.policy").unwrap().def;
        assert!(validate(cp, "compact,delete").is_ok());
        assert!(validate(cp, "compress").is_err());
        let tt = &topic_def("message.timestamp.type").unwrap().def;
        assert!(validate(tt, "LogAppendTime").is_ok());
        assert!(validate(tt, "Wallclock").is_err());
    }

    #[test]
    fn units_convert() {
        assert_eq!(Unit::HoursToMs.convert("168"), "604800000");
        assert_eq!(Unit::MinutesToMs.convert("2"), "120000");
    }
}
