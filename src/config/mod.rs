//! Broker configuration with Kafka's property names and defaults
//! (`server.properties` + `--override key=value`), and the resolution of
//! per-topic configs (`LogConfig`) from topic overrides, broker synonyms and
//! Kafka's defaults. Unknown keys are warned about; invalid values are a
//! startup error.

pub mod defs;
pub mod properties;
mod topic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use defs::{ConfigDef, ConfigType, TopicConfigDef};
pub use topic::{CleanupPolicy, ConfigSource, DescribedConfig, LogConfig, TimestampType};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// A listener: `NAME://host:port`. An empty host binds every interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::Invalid(format!("Invalid listener {s:?}: expected NAME://host:port"));
        let (name, rest) = s.trim().split_once("://").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if name.is_empty() {
            return Err(bad());
        }
        Ok(Listener { name: name.to_ascii_uppercase(), host: host.to_string(), port })
    }

    /// The address to bind: an empty host means every interface.
    pub fn bind_addr(&self) -> String {
        let host = if self.host.is_empty() { "0.0.0.0" } else { &self.host };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn parse_listeners(value: &str) -> Result<Vec<Listener>, ConfigError> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Listener::parse).collect()
}

/// Parses `max.connections.per.ip.overrides`: `host:count,...` (Kafka's
/// map syntax; an IPv6 address keeps its colons, the count follows the
/// last one).
pub fn parse_per_ip_overrides(value: &str) -> Result<Vec<(String, usize)>, ConfigError> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || {
            ConfigError::Invalid(format!(
                "Invalid max.connections.per.ip.overrides entry {entry:?}: expected host:count"
            ))
        };
        let (host, count) = entry.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim();
        let count: i32 = count.trim().parse().map_err(|_| bad())?;
        let valid_host = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !valid_host || count < 0 {
            return Err(bad());
        }
        out.push((host.to_string(), count as usize));
    }
    Ok(out)
}

/// `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    pub broker: bool,
    pub controller: bool,
}

/// Parses `controller.quorum.voters`: `id@host:port,...`.
pub fn parse_voters(value: &str) -> Result<std::collections::BTreeMap<u64, String>, ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad =
            || ConfigError::Invalid(format!("Invalid controller.quorum.voters entry {v:?}: expected id@host:port"));
        let (id, addr) = v.split_once('@').ok_or_else(bad)?;
        let id: u64 = id.trim().parse().map_err(|_| bad())?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        port.parse::<u16>().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        out.insert(id, addr.to_string());
    }
    Ok(out)
}

/// The validated broker configuration. `explicit` holds what the file and
/// overrides set (the STATIC_BROKER_CONFIG layer); everything else comes
/// from [`defs::BROKER_CONFIGS`].
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    explicit: BTreeMap<String, String>,
    /// Dynamic configs from the metadata log for this broker
    /// (DYNAMIC_BROKER_CONFIG) and for all brokers
    /// (DYNAMIC_DEFAULT_BROKER_CONFIG); empty in the static view.
    dynamic_broker: BTreeMap<String, String>,
    dynamic_default: BTreeMap<String, String>,
    pub node_id: i32,
    pub roles: ProcessRoles,
    /// Voters of the metadata quorum (node id -> controller address).
    pub voters: std::collections::BTreeMap<u64, String>,
    /// Listener names that serve the controller channel, not clients.
    pub controller_listener_names: Vec<String>,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub log_dirs: Vec<PathBuf>,
    pub metadata_log_dir: PathBuf,
    pub rack: Option<String>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    /// `max.connections.per.ip` and its per-host overrides (host as
    /// written, resolved when the listeners start).
    pub max_connections_per_ip: usize,
    pub max_connections_per_ip_overrides: Vec<(String, usize)>,
    /// `connections.max.idle.ms`; `None` (negative) disables idle closing.
    pub connections_max_idle: Option<std::time::Duration>,
    pub log_retention_check_interval_ms: u64,
    pub log_flush_offset_checkpoint_interval_ms: u64,
    pub log_flush_scheduler_interval_ms: i64,
}

impl BrokerConfig {
    /// Reads `path` (if given) and applies `overrides` (`key=value`).
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut props = BTreeMap::new();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            props = properties::parse(&text);
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::Invalid(format!("Invalid --override {o:?}: expected key=value")))?;
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        Self::from_props(props)
    }

    pub fn from_props(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut explicit = BTreeMap::new();
        for (k, v) in props {
            match defs::broker_def(&k) {
                Some(def) => {
                    defs::validate(def, &v).map_err(ConfigError::Invalid)?;
                    explicit.insert(k, v);
                }
                None => {
                    // Topic-level names are accepted at broker level by Kafka
                    // only through their log.* synonyms; anything else is
                    // unknown to us: warn and go on.
                    tracing::warn!(key = %k, "unknown configuration key ignored");
                }
            }
        }
        let mut cfg = BrokerConfig {
            explicit,
            dynamic_broker: BTreeMap::new(),
            dynamic_default: BTreeMap::new(),
            node_id: 0,
            roles: ProcessRoles { broker: true, controller: true },
            voters: Default::default(),
            controller_listener_names: Vec::new(),
            listeners: Vec::new(),
            advertised_listeners: Vec::new(),
            log_dirs: Vec::new(),
            metadata_log_dir: PathBuf::new(),
            rack: None,
            num_partitions: 0,
            default_replication_factor: 0,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            message_max_bytes: 0,
            socket_request_max_bytes: 0,
            max_connections: 0,
            max_connections_per_ip: 0,
            max_connections_per_ip_overrides: Vec::new(),
            connections_max_idle: None,
            log_retention_check_interval_ms: 0,
            log_flush_offset_checkpoint_interval_ms: 0,
            log_flush_scheduler_interval_ms: 0,
        };
        cfg.node_id = match (cfg.explicit("node.id"), cfg.explicit("broker.id")) {
            (Some(n), Some(b)) if n.trim() != b.trim() => {
                return Err(ConfigError::Invalid(format!(
                    "node.id ({n}) and broker.id ({b}) must be equal when both are set"
                )))
            }
            (Some(n), _) | (None, Some(n)) => n.trim().parse().expect("validated"),
            (None, None) => 1,
        };
        if cfg.node_id < 0 {
            return Err(ConfigError::Invalid("node.id must be set to a non-negative id".into()));
        }
        let roles = cfg.string("process.roles");
        cfg.roles = ProcessRoles {
            broker: roles.split(',').any(|r| r.trim() == "broker"),
            controller: roles.split(',').any(|r| r.trim() == "controller"),
        };
        if !cfg.roles.broker && !cfg.roles.controller {
            return Err(ConfigError::Invalid("process.roles must contain broker, controller, or both".into()));
        }
        cfg.controller_listener_names = cfg
            .string("controller.listener.names")
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        cfg.listeners = parse_listeners(&cfg.string("listeners"))?;
        if cfg.listeners.is_empty() {
            return Err(ConfigError::Invalid("listeners must name at least one listener".into()));
        }
        let controller_listener = cfg.controller_listener().cloned();
        cfg.voters = match cfg.explicit("controller.quorum.voters") {
            Some(v) => parse_voters(v)?,
            None => Default::default(),
        };
        if cfg.voters.is_empty() && cfg.roles.controller {
            // A lone voter: this node, at its controller listener if it has one.
            let addr = controller_listener
                .as_ref()
                .map(|l| format!("{}:{}", if l.host.is_empty() { "localhost" } else { &l.host }, l.port))
                .unwrap_or_default();
            cfg.voters.insert(cfg.node_id as u64, addr);
        }
        if cfg.roles.controller && !cfg.voters.contains_key(&(cfg.node_id as u64)) {
            return Err(ConfigError::Invalid(format!(
                "node.id {} has the controller role but is not in controller.quorum.voters",
                cfg.node_id
            )));
        }
        if cfg.roles.controller && cfg.voters.len() > 1 && controller_listener.is_none() {
            return Err(ConfigError::Invalid(
                "a controller in a multi-voter quorum needs a listener named in controller.listener.names".into(),
            ));
        }
        if !cfg.roles.controller && cfg.voters.is_empty() {
            if let Some(b) = cfg.explicit("controller.quorum.bootstrap.servers").map(str::to_string) {
                // Ids are unknown: number them so the channel can try each.
                for (i, addr) in b.split(',').map(str::trim).filter(|s| !s.is_empty()).enumerate() {
                    cfg.voters.insert(u64::MAX - i as u64, addr.to_string());
                }
            }
            if cfg.voters.is_empty() {
                return Err(ConfigError::Invalid(
                    "a broker-only node needs controller.quorum.voters or controller.quorum.bootstrap.servers".into(),
                ));
            }
        }
        if cfg.roles.broker && cfg.broker_listeners().is_empty() {
            return Err(ConfigError::Invalid("a broker needs a listener that is not a controller listener".into()));
        }
        cfg.advertised_listeners = match cfg.explicit("advertised.listeners") {
            Some(v) => parse_listeners(v)?,
            None => cfg.broker_listeners(),
        };
        let dirs = cfg.explicit("log.dirs").map(str::to_string).unwrap_or_else(|| cfg.string("log.dir"));
        cfg.log_dirs = dirs.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect();
        if cfg.log_dirs.is_empty() {
            return Err(ConfigError::Invalid("log.dirs must name at least one directory".into()));
        }
        cfg.metadata_log_dir =
            cfg.explicit("metadata.log.dir").map(PathBuf::from).unwrap_or_else(|| cfg.log_dirs[0].clone());
        cfg.rack = cfg.explicit("broker.rack").map(str::to_string);
        cfg.num_partitions = cfg.int("num.partitions");
        cfg.default_replication_factor = cfg.int("default.replication.factor").clamp(1, i16::MAX as i32) as i16;
        cfg.auto_create_topics_enable = cfg.bool("auto.create.topics.enable");
        cfg.delete_topic_enable = cfg.bool("delete.topic.enable");
        cfg.message_max_bytes = cfg.int("message.max.bytes");
        cfg.socket_request_max_bytes = cfg.int("socket.request.max.bytes") as usize;
        cfg.max_connections = cfg.int("max.connections") as usize;
        cfg.max_connections_per_ip = cfg.int("max.connections.per.ip") as usize;
        cfg.max_connections_per_ip_overrides = parse_per_ip_overrides(&cfg.string("max.connections.per.ip.overrides"))?;
        if cfg.max_connections_per_ip == 0 && cfg.max_connections_per_ip_overrides.is_empty() {
            return Err(ConfigError::Invalid(
                "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set".into(),
            ));
        }
        let idle = cfg.long("connections.max.idle.ms");
        cfg.connections_max_idle = (idle >= 0).then(|| std::time::Duration::from_millis(idle as u64));
        cfg.log_retention_check_interval_ms = cfg.long("log.retention.check.interval.ms") as u64;
        cfg.log_flush_offset_checkpoint_interval_ms = cfg.int("log.flush.offset.checkpoint.interval.ms") as u64;
        cfg.log_flush_scheduler_interval_ms = cfg.long("log.flush.scheduler.interval.ms");
        // Every topic default must itself be a valid topic config.
        LogConfig::validate_overrides(&cfg, &BTreeMap::new())
            .map_err(|e| ConfigError::Invalid(format!("broker topic defaults: {e}")))?;
        Ok(cfg)
    }

    /// The listener serving the controller channel, if any.
    pub fn controller_listener(&self) -> Option<&Listener> {
        self.listeners.iter().find(|l| self.controller_listener_names.contains(&l.name))
    }

    /// Listeners that serve Kafka clients.
    pub fn broker_listeners(&self) -> Vec<Listener> {
        self.listeners.iter().filter(|l| !self.controller_listener_names.contains(&l.name)).cloned().collect()
    }

    /// The listener brokers use to reach each other (replica fetches):
    /// `inter.broker.listener.name`, else PLAINTEXT when there is one (Kafka's
    /// default via `security.inter.broker.protocol`), else the first.
    pub fn inter_broker_listener_name(&self) -> String {
        let listeners = self.broker_listeners();
        if let Some(name) = self.explicit("inter.broker.listener.name") {
            return name.to_string();
        }
        if listeners.iter().any(|l| l.name == "PLAINTEXT") {
            return "PLAINTEXT".into();
        }
        listeners.first().map(|l| l.name.clone()).unwrap_or_else(|| "PLAINTEXT".into())
    }

    /// The value set in the file or by an override, if any. `name` must be
    /// a defined broker config (as `checked_def` checks).
    pub fn explicit(&self, name: &str) -> Option<&str> {
        checked_def(name, "explicit", ANY_TYPE);
        self.explicit.get(name).map(String::as_str)
    }

    /// This configuration with the dynamic layers from the metadata log.
    pub fn with_dynamic(
        &self,
        per_broker: BTreeMap<String, String>,
        cluster_default: BTreeMap<String, String>,
    ) -> BrokerConfig {
        let mut c = self.clone();
        c.dynamic_broker = per_broker;
        c.dynamic_default = cluster_default;
        c
    }

    /// A set value through the layers, most specific first: dynamic for
    /// this broker, dynamic cluster default, static (file/overrides).
    pub fn layered(&self, name: &str) -> Option<(&str, ConfigSource)> {
        checked_def(name, "layered", ANY_TYPE);
        self.layered_unchecked(name)
    }

    fn layered_unchecked(&self, name: &str) -> Option<(&str, ConfigSource)> {
        if let Some(v) = self.dynamic_broker.get(name) {
            return Some((v, ConfigSource::DynamicBrokerConfig));
        }
        if let Some(v) = self.dynamic_default.get(name) {
            return Some((v, ConfigSource::DynamicDefaultBrokerConfig));
        }
        self.explicit.get(name).map(|v| (v.as_str(), ConfigSource::StaticBrokerConfig))
    }

    /// The effective value: layered, else the default (None when null).
    pub fn value(&self, name: &str) -> Option<String> {
        self.typed_value(name, "value", ANY_TYPE)
    }

    /// The effective value of `name`, read by `accessor`, which expects one
    /// of the types `allowed` (empty: any type).
    fn typed_value(&self, name: &str, accessor: &str, allowed: &[ConfigType]) -> Option<String> {
        let def = checked_def(name, accessor, allowed);
        self.layered_unchecked(name)
            .map(|(v, _)| v.to_string())
            .or_else(|| def.and_then(|d| d.default.map(str::to_string)))
    }

    fn string(&self, name: &str) -> String {
        self.typed_value(name, "string", ANY_TYPE).unwrap_or_default()
    }
    /// An `Int` or `Short` config.
    pub fn int(&self, name: &str) -> i32 {
        self.typed_value(name, "int", &[ConfigType::Int, ConfigType::Short])
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
    /// A `Long` config.
    pub fn long(&self, name: &str) -> i64 {
        self.typed_value(name, "long", &[ConfigType::Long]).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }
    /// A `Double` config; `fallback` if it has no value.
    pub fn double(&self, name: &str, fallback: f64) -> f64 {
        self.typed_value(name, "double", &[ConfigType::Double]).and_then(|v| v.trim().parse().ok()).unwrap_or(fallback)
    }
    /// A `Boolean` config.
    pub fn bool(&self, name: &str) -> bool {
        self.typed_value(name, "bool", &[ConfigType::Boolean]).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// Every broker config with value, source and synonyms (all layers
    /// holding a value, most specific first), for DescribeConfigs.
    pub fn describe(&self) -> Vec<DescribedConfig> {
        defs::BROKER_CONFIGS.iter().map(|def| self.describe_one(def, true)).collect()
    }

    /// DescribeConfigs of the cluster-default broker resource (an empty
    /// name): only the configs set at cluster level, each with its
    /// cluster-level synonyms only (Kafka's `perBrokerConfig = false`).
    pub fn describe_cluster_default(&self) -> Vec<DescribedConfig> {
        defs::BROKER_CONFIGS
            .iter()
            .filter(|def| self.dynamic_default.contains_key(def.name))
            .map(|def| self.describe_one(def, false))
            .collect()
    }

    fn describe_one(&self, def: &'static ConfigDef, per_broker: bool) -> DescribedConfig {
        let names = broker_synonym_group(def.name);
        let mut synonyms = self.config_synonyms(def.name, &names);
        if !per_broker {
            synonyms.retain(|(_, _, s)| *s == ConfigSource::DynamicDefaultBrokerConfig);
        }
        let source = synonyms.first().map_or(ConfigSource::DefaultConfig, |(_, _, s)| *s);
        let value = if def.name == "node.id" || def.name == "broker.id" {
            Some(self.node_id.to_string())
        } else if !per_broker {
            self.dynamic_default.get(def.name).cloned()
        } else {
            match self.layered(def.name) {
                Some((v, _)) => Some(v.to_string()),
                None => def.default.map(str::to_string),
            }
        };
        DescribedConfig {
            name: def.name.to_string(),
            value,
            source,
            read_only: !defs::is_dynamic_broker_config(def.name),
            sensitive: def.ty == ConfigType::Password,
            ty: def.ty,
            doc: def.doc,
            synonyms,
        }
    }

    /// Kafka's `ConfigHelper.configSynonyms`: of the broker configs `names`
    /// (a config and its synonyms, `primary` among them), those set, layer
    /// by layer (dynamic for this broker, dynamic cluster default, static),
    /// then the defaults of those that have one; and, as in Kafka, only from
    /// the first entry named `primary` on. (So a topic's `retention.ms`
    /// lists no broker synonym while `log.retention.ms` is set nowhere,
    /// although `log.retention.hours` has a default.)
    pub fn config_synonyms(&self, primary: &str, names: &[&str]) -> Vec<(String, Option<String>, ConfigSource)> {
        let mut out = Vec::new();
        for (layer, source) in [
            (&self.dynamic_broker, ConfigSource::DynamicBrokerConfig),
            (&self.dynamic_default, ConfigSource::DynamicDefaultBrokerConfig),
            (&self.explicit, ConfigSource::StaticBrokerConfig),
        ] {
            for name in names {
                if let Some(v) = layer.get(*name) {
                    out.push((name.to_string(), Some(v.clone()), source));
                }
            }
        }
        for name in names {
            if let Some(dv) = defs::broker_def(name).and_then(|d| d.default) {
                out.push((name.to_string(), Some(dv.to_string()), ConfigSource::DefaultConfig));
            }
        }
        let first = out.iter().position(|(n, _, _)| n == primary).unwrap_or(out.len());
        out.split_off(first)
    }
}

/// A broker config and its synonyms, in Kafka's order
/// (`DynamicBrokerConfig.brokerConfigSynonyms`: `log.retention.ms`,
/// `.minutes`, `.hours`; `log.roll.ms`, `.hours`; ...): the broker synonyms
/// of the topic config that has `name` among several, else `name` alone.
fn broker_synonym_group(name: &'static str) -> Vec<&'static str> {
    defs::TOPIC_CONFIGS
        .iter()
        .find(|t| t.synonyms.len() > 1 && t.synonyms.iter().any(|(n, _)| *n == name))
        .map_or_else(|| vec![name], |t| t.synonyms.iter().map(|(n, _)| *n).collect())
}

impl Default for BrokerConfig {
    /// `weir serve` with no arguments.
    fn default() -> Self {
        Self::from_props(BTreeMap::new()).expect("defaults are valid")
    }
}

/// For [`checked_def`]: the accessor reads a config of any type.
const ANY_TYPE: &[ConfigType] = &[];

/// The definition of broker config `name`, read through `accessor`, which
/// expects one of the types `allowed` (empty: any). An undefined name or a
/// type mismatch is a bug at the call site (a misspelled key would
/// otherwise read as 0/false/empty): it panics in debug and test builds,
/// and in release is logged once (per key and accessor) and the accessor
/// returns its fallback. `tests::every_config_key_in_the_source_is_defined`
/// checks the literal keys in the source statically.
fn checked_def(name: &str, accessor: &str, allowed: &[ConfigType]) -> Option<&'static ConfigDef> {
    let def = defs::broker_def(name);
    let problem = match def {
        None => Some(format!("undefined broker config {name:?} read with {accessor}()")),
        Some(d) if !allowed.is_empty() && !allowed.contains(&d.ty) => {
            Some(format!("broker config {name:?} of type {:?} read with {accessor}()", d.ty))
        }
        Some(_) => None,
    };
    if let Some(problem) = problem {
        report_config_misuse(problem);
    }
    def
}

/// Panics in debug builds; logs each distinct problem once in release.
pub(crate) fn report_config_misuse(problem: String) {
    debug_assert!(false, "{problem}");
    static REPORTED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let first = REPORTED.lock().unwrap_or_else(|e| e.into_inner()).insert(problem.clone());
    if first {
        tracing::error!("{problem}; using the fallback value");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn bare_defaults_are_the_embedded_single_node() {
        let c = BrokerConfig::default();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listeners, vec![Listener::parse("PLAINTEXT://localhost:9092").unwrap()]);
        assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.message_max_bytes, 1048588);
        assert_eq!(c.socket_request_max_bytes, 104857600);
    }

    #[test]
    fn per_ip_connection_limits() {
        let c = BrokerConfig::from_props(props(&[
            ("max.connections.per.ip", "0"),
            ("max.connections.per.ip.overrides", "127.0.0.1:2, host-a:5,::1:3"),
            ("connections.max.idle.ms", "-1"),
        ]))
        .unwrap();
        assert_eq!(c.max_connections_per_ip, 0);
        assert_eq!(
            c.max_connections_per_ip_overrides,
            vec![("127.0.0.1".to_string(), 2), ("host-a".to_string(), 5), ("::1".to_string(), 3)]
        );
        assert_eq!(c.connections_max_idle, None);
        assert_eq!(BrokerConfig::default().connections_max_idle, Some(std::time::Duration::from_secs(600)));
        // As Kafka: zero per ip needs overrides; entries need a count.
        assert!(BrokerConfig::from_props(props(&[("max.connections.per.ip", "0")])).is_err());
        assert!(BrokerConfig::from_props(props(&[("max.connections.per.ip.overrides", "host-a")])).is_err());
        assert!(BrokerConfig::from_props(props(&[("max.connections.per.ip.overrides", "host-a:x")])).is_err());
    }

    #[test]
    fn broker_id_is_a_synonym_and_conflicts_are_errors() {
        let c = BrokerConfig::from_props(props(&[("broker.id", "7")])).unwrap();
        assert_eq!(c.node_id, 7);
        assert!(BrokerConfig::from_props(props(&[("broker.id", "7"), ("node.id", "8")])).is_err());
    }

    #[test]
    fn invalid_values_are_startup_errors_and_unknown_keys_are_not() {
        assert!(BrokerConfig::from_props(props(&[("num.partitions", "zero")])).is_err());
        assert!(BrokerConfig::from_props(props(&[("log.segment.bytes", "10")])).is_err());
        assert!(BrokerConfig::from_props(props(&[("listeners", "nonsense")])).is_err());
        assert!(BrokerConfig::from_props(props(&[("no.such.key", "1")])).is_ok());
    }

    #[test]
    fn log_dirs_beats_log_dir() {
        let c = BrokerConfig::from_props(props(&[("log.dir", "/a"), ("log.dirs", "/b,/c")])).unwrap();
        assert_eq!(c.log_dirs, vec![PathBuf::from("/b"), PathBuf::from("/c")]);
        assert_eq!(c.metadata_log_dir, PathBuf::from("/b"));
    }

    #[test]
    fn listeners_parse() {
        let l = Listener::parse("PLAINTEXT://:9092").unwrap();
        assert_eq!(l.bind_addr(), "0.0.0.0:9092");
        let l = Listener::parse("internal://[::1]:19092").unwrap();
        assert_eq!(l.name, "INTERNAL");
        assert_eq!(l.bind_addr(), "[::1]:19092");
    }

    /// Where a scanned accessor looks its key up.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Scope {
        Broker,
        Topic,
    }

    /// Every `accessor("literal")` call in `text` (a file at `path`
    /// relative to the crate): (line, accessor, key, scope, allowed types;
    /// empty = any). Simple parsing: the accessor name must not be the tail
    /// of a longer identifier, and the key runs to the next quote.
    fn config_keys_in(path: &str, text: &str) -> Vec<(usize, &'static str, String, Scope, &'static [ConfigType])> {
        use ConfigType::*;
        let in_config = path.starts_with("src/config/");
        let in_topic = path == "src/config/topic.rs";
        let mut found = Vec::new();
        for (accessor, scope, allowed) in [
            ("int", Scope::Broker, &[Int, Short][..]),
            ("long", Scope::Broker, &[Long][..]),
            ("bool", Scope::Broker, &[Boolean][..]),
            ("double", Scope::Broker, &[Double][..]),
            // Private to BrokerConfig, so only src/config can call it (the
            // coordinator's record readers have their own `string`).
            ("string", Scope::Broker, &[][..]),
            ("value", Scope::Broker, &[][..]),
            ("explicit", Scope::Broker, &[][..]),
            ("layered", Scope::Broker, &[][..]),
            // Topic config closures of LogConfig::resolve, and topic
            // overrides read from the metadata image.
            ("get", Scope::Topic, &[][..]),
            ("boolean", Scope::Topic, &[Boolean][..]),
        ] {
            if accessor == "string" && !in_config {
                continue;
            }
            let pattern = format!("{accessor}(\"");
            let mut from = 0;
            while let Some(at) = text[from..].find(&pattern).map(|i| i + from) {
                from = at + pattern.len();
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let Some(len) = text[from..].find('"') else { continue };
                let key = text[from..from + len].to_string();
                let line = text[..at].matches('\n').count() + 1;
                let (scope, allowed) = if in_topic {
                    // LogConfig::resolve's int/long/double/boolean/get
                    // closures read topic configs.
                    let topic_types: &'static [ConfigType] = match accessor {
                        "int" => &[Int],
                        "long" => &[Long],
                        "double" => &[Double],
                        "boolean" => &[Boolean],
                        _ => &[],
                    };
                    (Scope::Topic, topic_types)
                } else if accessor == "get" {
                    // Elsewhere `get` is a map lookup: only a topic config
                    // map (`topic_configs(...)` just before) is checked.
                    let window = &text[at.saturating_sub(120)..at];
                    if !window.contains("topic_configs(") {
                        continue;
                    }
                    (Scope::Topic, &[][..])
                } else if accessor == "boolean" {
                    continue;
                } else {
                    (scope, allowed)
                };
                found.push((line, accessor, key, scope, allowed));
            }
        }
        found
    }

    /// What is wrong with each call in `calls`, as "path:line: problem".
    fn undefined_or_mistyped(
        path: &str,
        calls: &[(usize, &'static str, String, Scope, &'static [ConfigType])],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (line, accessor, key, scope, allowed) in calls {
            let ty = match scope {
                Scope::Broker => defs::broker_def(key).map(|d| d.ty),
                Scope::Topic => defs::topic_def(key).map(|d| d.def.ty),
            };
            match ty {
                None => problems.push(format!("{path}:{line}: {accessor}({key:?}): no {scope:?} config of that name")),
                Some(ty) if !allowed.is_empty() && !allowed.contains(&ty) => problems
                    .push(format!("{path}:{line}: {accessor}({key:?}): the config is {ty:?}, expected {allowed:?}")),
                Some(_) => {}
            }
        }
        problems
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Statically, every literal key passed to a config accessor anywhere
    /// in src/ is defined in defs.rs with a type the accessor can read.
    #[test]
    fn every_config_key_in_the_source_is_defined() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        files.sort();
        let (mut calls, mut problems) = (0, Vec::new());
        for file in &files {
            let rel = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(file).unwrap();
            let found = config_keys_in(&rel, &text);
            calls += found.len();
            problems.extend(undefined_or_mistyped(&rel, &found));
        }
        assert!(problems.is_empty(), "config accessors with undefined or mistyped keys:\n{}", problems.join("\n"));
        // The scan must actually see the call sites (about 90 today).
        assert!(calls >= 80, "only {calls} config accessor calls found; is the scan broken?");
    }

    /// The scan catches a misspelled key, a wrong type, and an undefined
    /// topic config, and ignores identifiers that merely end in an accessor
    /// name.
    #[test]
    fn the_config_key_scan_catches_mistakes() {
        let text =
            "c.int(\"num.partition\"); c.bool(\"num.partitions\"); c.long(\"log.retention.check.interval.ms\");\n\
                    image.topic_configs(&t).get(\"unclean.leader.elect\"); print(\"no.such\"); r.string(\"x\");";
        let found = config_keys_in("src/x.rs", text);
        assert_eq!(found.len(), 4, "{found:?}");
        let problems = undefined_or_mistyped("src/x.rs", &found);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("num.partition\""), "{problems:?}");
        assert!(problems[1].contains("Int"), "{problems:?}");
        assert!(problems[2].contains("unclean.leader.elect"), "{problems:?}");
        let topic = config_keys_in("src/config/topic.rs", "int(\"retention.ms\"); long(\"retention.ms\")");
        assert_eq!(undefined_or_mistyped("src/config/topic.rs", &topic).len(), 1);
    }

    #[test]
    #[should_panic(expected = "undefined broker config \"num.partition\"")]
    fn an_undefined_key_panics_in_debug_builds() {
        // Through a variable, so the source scan does not flag this call.
        let misspelled = "num.partition";
        BrokerConfig::default().int(misspelled);
    }

    #[test]
    #[should_panic(expected = "read with long()")]
    fn a_mistyped_read_panics_in_debug_builds() {
        let an_int = "num.partitions";
        BrokerConfig::default().long(an_int);
    }
}
