//! `ReplicaManager`: the partitions this broker hosts. It follows the
//! metadata image: partitions whose replicas include this node get a log
//! and a role (leader, or follower fetching from the leader), deleted
//! topics lose theirs, topic config changes reach the logs. It sends the
//! leaders' ISR changes to the controller and expires lagging followers.
//! Request handlers look partitions up here. It holds the broker's
//! [`QuorumLease`] (renewed by the heartbeats) and wakes the partitions'
//! waiters when it lapses.
//!
//! Log directory failures (Kafka's `ReplicaManager.handleLogDirFailure`):
//! when the log manager's failure channel reports a directory offline, the
//! partitions in it stop being served (their fetchers stop; produce, fetch
//! and the rest answer KAFKA_STORAGE_ERROR) and are listed in
//! [`ReplicaManager::offline_replicas`], which the heartbeats carry to the
//! controller so it moves their leadership and ISR membership elsewhere.
//! They stay offline until the broker restarts. A failed metadata log
//! directory, or every log directory failed, stops the broker, as in Kafka.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{BrokerConfig, LogConfig};
use crate::controller_client::ops::IsrChange;
use crate::controller_client::{ControllerChannel, QuorumLease};
use crate::metadata::{
    Change, ConfigResourceType, MetadataCache, MetadataImage, MetadataListener, PartitionRegistration, TopicImage,
};
use crate::storage::log_manager::LogManager;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::fetcher::{FetcherConfig, FetcherContext, ReplicaFetcherManager};
use super::partition::{IsrRequest, Partition, PartitionState};
use super::ReplicaError;

/// Told when this broker starts or stops leading a partition (the group
/// coordinator follows `__consumer_offsets` this way).
pub trait LeadershipListener: Send + Sync {
    fn on_leadership_change(&self, tp: &TopicPartition, is_leader: bool, leader_epoch: i32);
}

pub struct ReplicaManager {
    node_id: i32,
    leadership_listeners: RwLock<Vec<Arc<dyn LeadershipListener>>>,
    config: Arc<BrokerConfig>,
    log_manager: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    initialized: AtomicBool,
    fetchers: ReplicaFetcherManager,
    isr_tx: mpsc::UnboundedSender<IsrRequest>,
    isr_rx: Mutex<Option<mpsc::UnboundedReceiver<IsrRequest>>>,
    /// `replica.lag.time.max.ms`.
    lag_max_ms: i64,
    /// This broker's lease on its registration (`broker.session.timeout.ms`).
    lease: Arc<QuorumLease>,
    /// Partitions whose log directory failed (Kafka's
    /// `HostedPartition.Offline`), with their topic id.
    offline: RwLock<HashMap<TopicPartition, Uuid>>,
    /// Bumped when partitions go offline: the heartbeat tells the
    /// controller at once.
    offline_changes: watch::Sender<u64>,
}

/// What replication needs from the running broker.
pub struct ReplicationContext {
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<ControllerChannel>,
    pub broker_epoch: Arc<AtomicI64>,
    pub shutdown: CancellationToken,
}

impl ReplicaManager {
    pub fn new(config: Arc<BrokerConfig>, log_manager: Arc<LogManager>) -> Arc<Self> {
        let (isr_tx, isr_rx) = mpsc::unbounded_channel();
        let session = Duration::from_millis(config.int("broker.session.timeout.ms").max(1) as u64);
        Arc::new(ReplicaManager {
            lease: Arc::new(QuorumLease::new(session)),
            node_id: config.node_id,
            leadership_listeners: RwLock::new(Vec::new()),
            fetchers: ReplicaFetcherManager::new(config.node_id, FetcherConfig::from_broker(&config)),
            lag_max_ms: config.long("replica.lag.time.max.ms").max(0),
            config,
            log_manager,
            partitions: RwLock::new(HashMap::new()),
            initialized: AtomicBool::new(false),
            isr_tx,
            isr_rx: Mutex::new(Some(isr_rx)),
            offline: RwLock::new(HashMap::new()),
            offline_changes: watch::channel(0).0,
        })
    }

    /// Follows the log manager's failure channel: partitions in a failed
    /// directory go offline (see the module doc).
    async fn watch_log_dirs(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failures = self.log_manager.failure_channel().subscribe();
        loop {
            failures.borrow_and_update();
            self.handle_log_dir_failures();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = failures.changed() => if r.is_err() { break },
            }
        }
    }

    /// Kafka's `handleLogDirFailure` for every directory the failure
    /// channel lists: stop fetching for and serving the partitions in it.
    pub fn handle_log_dir_failures(&self) {
        let failed = self.log_manager.failure_channel().offline_dirs();
        if failed.is_empty() {
            return;
        }
        let metadata_dir = &self.config.metadata_log_dir;
        if let Some((dir, reason)) = failed.iter().find(|(d, _)| d == metadata_dir) {
            tracing::error!(
                "shutting down: the metadata log directory {} failed ({reason}); a broker cannot run without it",
                dir.display()
            );
            std::process::exit(1);
        }
        if self.log_manager.online_dirs().is_empty() {
            tracing::error!("shutting down: every log directory has failed ({failed:?})");
            std::process::exit(1);
        }
        let newly: Vec<Arc<Partition>> = {
            let mut partitions = self.partitions.write().expect("partitions lock");
            let mut offline = self.offline.write().expect("offline lock");
            let doomed: Vec<TopicPartition> = partitions
                .iter()
                .filter(|(_, p)| p.log().lock().expect("log lock").is_offline())
                .map(|(tp, _)| tp.clone())
                .collect();
            doomed
                .into_iter()
                .filter_map(|tp| {
                    let p = partitions.remove(&tp)?;
                    offline.insert(tp, p.topic_id);
                    Some(p)
                })
                .collect()
        };
        if newly.is_empty() {
            return;
        }
        for p in &newly {
            self.fetchers.remove_partition(&p.tp);
            p.mark_offline();
            if p.is_leader() {
                self.notify_leadership(&p.tp, false, p.leader_epoch());
            }
        }
        let names: Vec<String> = newly.iter().map(|p| p.tp.to_string()).collect();
        tracing::warn!(
            partitions = %names.join(","),
            "stopped serving {} partitions: their log directory failed; the controller is told so their leadership moves",
            newly.len()
        );
        self.offline_changes.send_modify(|n| *n += 1);
    }

    /// The replicas this broker hosts in failed log directories, as (topic
    /// id, partition): the heartbeat's equivalent of Kafka's
    /// `OfflineLogDirs` (Weir's metadata does not record which directory
    /// holds each replica, so the broker names the replicas themselves).
    pub fn offline_replicas(&self) -> Vec<(Uuid, i32)> {
        let mut out: Vec<(Uuid, i32)> =
            self.offline.read().expect("offline lock").iter().map(|(tp, id)| (*id, tp.partition)).collect();
        out.sort_unstable();
        out
    }

    /// Changes whenever partitions go offline.
    pub fn subscribe_offline(&self) -> watch::Receiver<u64> {
        self.offline_changes.subscribe()
    }

    /// The error a partition in a failed log directory answers.
    fn offline_error(&self, tp: &TopicPartition) -> Option<ReplicaError> {
        if !self.offline.read().expect("offline lock").contains_key(tp) {
            return None;
        }
        let log = self.log_manager.get(tp)?.1;
        let e = log.lock().expect("log lock").offline_error();
        Some(ReplicaError::Storage(e))
    }

    /// Starts replication once the broker is registered and caught up:
    /// follower fetchers, the ISR-change sender and ISR expiration.
    pub fn start_replication(self: &Arc<Self>, ctx: ReplicationContext) {
        self.fetchers.start(FetcherContext {
            replica_manager: Arc::downgrade(self),
            metadata: ctx.metadata,
            broker_epoch: ctx.broker_epoch.clone(),
            shutdown: ctx.shutdown.clone(),
        });
        if let Some(rx) = self.isr_rx.lock().expect("isr receiver lock").take() {
            tokio::spawn(self.clone().send_isr_changes(rx, ctx.controller, ctx.broker_epoch, ctx.shutdown.clone()));
        }
        tokio::spawn(self.clone().watch_lease(ctx.shutdown.clone()));
        tokio::spawn(self.clone().watch_log_dirs(ctx.shutdown.clone()));
        let this = self.clone();
        let shutdown = ctx.shutdown;
        tokio::spawn(async move {
            // Kafka checks every half lag window ("isr-expiration").
            let every = Duration::from_millis((this.lag_max_ms / 2).max(50) as u64);
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = now_ms();
                for p in this.all() {
                    p.maybe_shrink_isr(now);
                }
            }
            this.fetchers.shutdown();
        });
    }

    /// The lease heartbeats renew (see [`QuorumLease`]).
    pub fn lease(&self) -> &Arc<QuorumLease> {
        &self.lease
    }

    /// Wakes every partition's waiters when the lease lapses (its end
    /// passes without an answered heartbeat, or the controller says this
    /// broker is fenced), so waiting acks=all produces answer
    /// NOT_LEADER_OR_FOLLOWER at once instead of timing out.
    async fn watch_lease(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = self.lease.subscribe();
        let mut was_held = self.lease.is_held();
        loop {
            let end = self.lease.expires_at().filter(|_| was_held);
            let lapse = async {
                match end {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = lapse => {}
                _ = changes.changed() => {}
            }
            let held = self.lease.is_held();
            if !held {
                self.lease.mark_lapsed();
            }
            if was_held && !held {
                tracing::warn!(
                    session_ms = self.lease.duration().as_millis() as u64,
                    "no answered heartbeat for a session: not accepting writes for partitions another replica may lead now"
                );
                for p in self.all() {
                    p.wake_waiters();
                }
            } else if !was_held && held {
                tracing::info!("heartbeats answered again: leading the partitions the metadata gives this broker");
            }
            was_held = held;
        }
    }

    /// Sends leaders' ISR changes to the controller, batching what queued
    /// up meanwhile, and hands each partition the controller's answer.
    async fn send_isr_changes(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<IsrRequest>,
        controller: Arc<ControllerChannel>,
        broker_epoch: Arc<AtomicI64>,
        shutdown: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.recv() => match r { Some(r) => r, None => break },
            };
            let mut batch = vec![first];
            while let Ok(r) = rx.try_recv() {
                batch.push(r);
            }
            let changes = batch
                .iter()
                .map(|r| IsrChange {
                    topic_id: r.topic_id,
                    partition: r.tp.partition,
                    leader_epoch: r.change.leader_epoch,
                    partition_epoch: r.change.partition_epoch,
                    new_isr: r.change.new_isr.clone(),
                })
                .collect();
            let epoch = broker_epoch.load(Ordering::Acquire);
            match controller.alter_partition(self.node_id, epoch, changes).await {
                Ok(results) => {
                    for (r, result) in batch.iter().zip(results) {
                        if let Some(p) = self.get(&r.tp).filter(|p| p.topic_id == r.topic_id) {
                            p.on_isr_response(&r.change, result.map_err(|e| e.kafka_code()));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "AlterPartition failed; the leaders will retry");
                    for r in &batch {
                        if let Some(p) = self.get(&r.tp) {
                            p.on_isr_response(&r.change, Err(e.kafka_code()));
                        }
                    }
                }
            }
        }
    }

    /// The partitions this broker fetches as a follower, with their leader.
    pub fn followed_partitions(&self) -> Vec<(TopicPartition, i32)> {
        self.fetchers.fetched_partitions()
    }

    pub fn add_leadership_listener(&self, l: Arc<dyn LeadershipListener>) {
        self.leadership_listeners.write().expect("listeners lock").push(l);
    }

    fn notify_leadership(&self, tp: &TopicPartition, is_leader: bool, epoch: i32) {
        let listeners = self.leadership_listeners.read().expect("listeners lock").clone();
        for l in listeners {
            l.on_leadership_change(tp, is_leader, epoch);
        }
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.log_manager
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().expect("partitions lock").get(tp).cloned()
    }

    /// The partition if this broker leads it, else the error a client sees.
    pub fn leader_partition(&self, image: &MetadataImage, tp: &TopicPartition) -> Result<Arc<Partition>, ReplicaError> {
        if let Some(e) = self.offline_error(tp) {
            return Err(e);
        }
        match self.get(tp) {
            Some(p) if p.is_leader() => Ok(p),
            Some(_) => Err(ReplicaError::NotLeaderOrFollower),
            None => {
                let known = image.topic_by_name(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition));
                if known {
                    Err(ReplicaError::NotLeaderOrFollower)
                } else {
                    Err(ReplicaError::UnknownTopicOrPartition)
                }
            }
        }
    }

    /// The partition if this broker hosts it in any role (KIP-392:
    /// consumers may read from followers), else the error a client sees.
    pub fn hosted_partition(&self, image: &MetadataImage, tp: &TopicPartition) -> Result<Arc<Partition>, ReplicaError> {
        match self.get(tp) {
            Some(p) => Ok(p),
            None => self.leader_partition(image, tp),
        }
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().expect("partitions lock").values().cloned().collect()
    }

    fn log_config(&self, image: &MetadataImage, topic: &str) -> Arc<LogConfig> {
        Arc::new(LogConfig::resolve(&image.broker_config(&self.config), &image.topic_configs(topic)))
    }

    fn apply_partition(&self, image: &MetadataImage, topic: &TopicImage, index: i32, reg: &PartitionRegistration) {
        let tp = TopicPartition::new(topic.name.as_str(), index);
        let offline_id = self.offline.read().expect("offline lock").get(&tp).copied();
        if let Some(id) = offline_id {
            if id == topic.id && reg.replicas.contains(&self.node_id) {
                // Offline until restart: no role, no fetcher.
                return;
            }
            self.offline.write().expect("offline lock").remove(&tp);
        }
        if !reg.replicas.contains(&self.node_id) {
            self.remove_partition(&tp);
            return;
        }
        let state = PartitionState {
            leader: reg.leader,
            leader_epoch: reg.leader_epoch,
            partition_epoch: reg.partition_epoch,
            replicas: reg.replicas.clone(),
            isr: reg.isr.clone(),
        };
        let existing = match self.get(&tp) {
            Some(p) if p.topic_id == topic.id => Some(p),
            Some(_) => {
                self.remove_partition(&tp);
                None
            }
            None => None,
        };
        let p = match existing {
            Some(p) => {
                if p.state() == state {
                    return;
                }
                p
            }
            None => match self.create_log(image, topic, &tp) {
                Ok(log) => {
                    let p = Partition::new(
                        tp.clone(),
                        topic.id,
                        self.node_id,
                        log,
                        self.isr_tx.clone(),
                        self.lag_max_ms,
                        self.lease.clone(),
                    );
                    self.partitions.write().expect("partitions lock").insert(tp.clone(), p.clone());
                    p
                }
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "cannot create or load log");
                    return;
                }
            },
        };
        let was_leader = p.is_leader();
        let epoch = state.leader_epoch;
        if state.leader == self.node_id {
            self.fetchers.remove_partition(&tp);
            match p.make_leader(state, now_ms()) {
                Ok(true) => self.notify_leadership(&tp, true, epoch),
                Ok(false) => {}
                Err(e) => tracing::error!(partition = %tp, error = %e, "cannot become leader"),
            }
        } else {
            let leader = state.leader;
            let changed = p.make_follower(state);
            if leader >= 0 {
                if changed {
                    self.fetchers.add_partition(&tp, topic.id, leader, epoch);
                }
            } else {
                self.fetchers.remove_partition(&tp);
            }
            if was_leader {
                self.notify_leadership(&tp, false, epoch);
            }
        }
    }

    /// The partition's log, loaded or created. A creation that fails on a
    /// disk error has taken that directory offline: it is tried again in
    /// the remaining ones.
    fn create_log(
        &self,
        image: &MetadataImage,
        topic: &TopicImage,
        tp: &TopicPartition,
    ) -> Result<crate::storage::log_manager::SharedLog, crate::storage::StorageError> {
        let config = self.log_config(image, &topic.name);
        let mut result = self.log_manager.get_or_create(tp, topic.id, config.clone());
        for _ in 1..self.log_manager.dirs().len() {
            match result {
                Err(crate::storage::StorageError::LogDirOffline { .. }) => {
                    result = self.log_manager.get_or_create(tp, topic.id, config.clone());
                }
                _ => break,
            }
        }
        result
    }

    fn remove_partition(&self, tp: &TopicPartition) {
        self.fetchers.remove_partition(tp);
        let removed = self.partitions.write().expect("partitions lock").remove(tp);
        if let Some(p) = removed {
            if p.is_leader() {
                self.notify_leadership(tp, false, p.leader_epoch());
            }
        }
        if let Err(e) = self.log_manager.delete(tp) {
            tracing::error!(partition = %tp, error = %e, "deleting log");
        }
    }

    fn apply_topic(&self, image: &MetadataImage, topic: &TopicImage) {
        for (index, reg) in &topic.partitions {
            self.apply_partition(image, topic, *index, reg);
        }
    }

    /// First image: host what the image says and delete logs it doesn't know.
    fn reconcile_all(&self, image: &MetadataImage) {
        for topic in image.topics.values() {
            self.apply_topic(image, topic);
        }
        let mut hosted: HashSet<TopicPartition> =
            self.partitions.read().expect("partitions lock").keys().cloned().collect();
        hosted.extend(self.offline.read().expect("offline lock").keys().cloned());
        for (tp, _, _) in self.log_manager.all() {
            if !hosted.contains(&tp) {
                tracing::info!(partition = %tp, "deleting log of a topic that no longer exists");
                if let Err(e) = self.log_manager.delete(&tp) {
                    tracing::error!(partition = %tp, error = %e, "deleting stray log");
                }
            }
        }
    }

    fn delete_topic(&self, id: Uuid, name: &str) {
        let offline: Vec<TopicPartition> = {
            let mut offline = self.offline.write().expect("offline lock");
            let gone: Vec<TopicPartition> =
                offline.iter().filter(|(tp, t)| **t == id && &*tp.topic == name).map(|(tp, _)| tp.clone()).collect();
            gone.iter().for_each(|tp| {
                offline.remove(tp);
            });
            gone
        };
        for tp in offline {
            // Forgotten now; its files wait in the failed directory until a
            // restart finds them stray.
            let _ = self.log_manager.delete(&tp);
        }
        let doomed: Vec<TopicPartition> = self
            .partitions
            .read()
            .expect("partitions lock")
            .iter()
            .filter(|(tp, p)| p.topic_id == id && &*tp.topic == name)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in doomed {
            self.remove_partition(&tp);
        }
    }

    fn update_topic_config(&self, image: &MetadataImage, topic: &str) {
        let config = self.log_config(image, topic);
        for p in self.all().into_iter().filter(|p| &*p.tp.topic == topic) {
            p.log().lock().expect("log lock").set_config(config.clone());
        }
    }
}

impl MetadataListener for ReplicaManager {
    fn on_metadata_update(&self, image: &Arc<MetadataImage>, changes: &[Change]) {
        if !self.initialized.swap(true, Ordering::AcqRel) {
            self.reconcile_all(image);
            return;
        }
        for change in changes {
            match change {
                Change::TopicCreated(id) => {
                    if let Some(t) = image.topic_by_id(id) {
                        self.apply_topic(image, t);
                    }
                }
                Change::Partition { topic_id, partition } => {
                    if let Some(t) = image.topic_by_id(topic_id) {
                        if let Some(reg) = t.partitions.get(partition) {
                            self.apply_partition(image, t, *partition, reg);
                        }
                    }
                }
                Change::TopicDeleted { id, name } => self.delete_topic(*id, name),
                Change::Config(ConfigResourceType::Topic, name) => self.update_topic_config(image, name),
                Change::Config(ConfigResourceType::Broker, _) => {
                    // A broker-level default changed: every topic may see it.
                    let topics: HashSet<String> = self.all().iter().map(|p| p.tp.topic.to_string()).collect();
                    for t in topics {
                        self.update_topic_config(image, &t);
                    }
                }
                Change::Broker(_) => {}
            }
        }
    }
}
