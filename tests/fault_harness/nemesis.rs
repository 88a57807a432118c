//! The nemesis: faults chosen at random (from a seeded RNG) among process
//! faults (kill -9 of any node, of a partition's leader, of the active
//! controller, of every node at once; SIGSTOP), network faults in the lab
//! (total isolation, isolation from the other nodes only, one-way and
//! non-transitive partitions) and a full disk on one node's log dir. It
//! applies one fault, holds it, heals it, and waits until the cluster is
//! whole again (every broker registered, every partition led with its
//! whole replica set in sync) before the next.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::common::netns::{Host, NetLab};
use crate::common::Tmpfs;
use crate::sut::Sut;

/// The kinds of fault, as the table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    KillAny,
    KillLeader,
    KillController,
    Pause,
    Isolate,
    IsolatePeers,
    OneWay,
    Bridge,
    KillAll,
    DiskFull,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::KillAny,
        Kind::KillLeader,
        Kind::KillController,
        Kind::Pause,
        Kind::Isolate,
        Kind::IsolatePeers,
        Kind::OneWay,
        Kind::Bridge,
        Kind::KillAll,
        Kind::DiskFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::KillAny => "kill-any",
            Kind::KillLeader => "kill-leader",
            Kind::KillController => "kill-controller",
            Kind::Pause => "pause",
            Kind::Isolate => "isolate",
            Kind::IsolatePeers => "isolate-peers",
            Kind::OneWay => "one-way",
            Kind::Bridge => "bridge",
            Kind::KillAll => "kill-all",
            Kind::DiskFull => "disk-full",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One fault as applied: what, to whom, and when (since the workload
/// started).
#[derive(Debug, Clone)]
pub struct FaultRecord {
    pub kind: Kind,
    pub what: String,
    pub start: Duration,
    pub healed: Duration,
    /// When the cluster was whole again.
    pub recovered: Duration,
}

/// What the nemesis acts on.
pub struct Nemesis<'a> {
    pub rng: StdRng,
    pub lab: &'a mut NetLab,
    /// Per node (index id - 1): the tmpfs its log dir is on, if any.
    pub disks: &'a [Option<Tmpfs>],
    pub topic: String,
    pub partitions: i32,
    pub kinds: Vec<Kind>,
    /// Each kind once, in this (seeded) order, instead of drawing at random.
    pub schedule: Option<Vec<Kind>>,
    /// How long a fault is held: uniformly in this range.
    pub hold: (Duration, Duration),
}

/// What must be undone to heal.
enum Undo {
    Restart(Vec<i32>),
    Resume(i32),
    Network,
    Disk(i32, PathBuf),
}

/// How long the cluster may take to become whole after a heal; past this
/// the run fails (a liveness failure, reported with the node logs).
pub const RECOVERY: Duration = Duration::from_secs(90);

impl Nemesis<'_> {
    /// Whether a schedule was given and is done.
    pub fn schedule_done(&self) -> bool {
        self.schedule.as_ref().is_some_and(|s| s.is_empty())
    }

    /// Picks (the next scheduled, or at random), applies, holds and heals
    /// one fault; returns what it did.
    pub async fn one<S: Sut>(&mut self, sut: &mut S, t0: Instant) -> FaultRecord {
        let kind = match &mut self.schedule {
            Some(s) => s.remove(0),
            None => *self.kinds.choose(&mut self.rng).expect("at least one fault kind"),
        };
        let ids = sut.ids();
        let any = *ids.choose(&mut self.rng).unwrap();
        let start = t0.elapsed();
        let (what, undo) = match kind {
            Kind::KillAny => {
                sut.kill9(any);
                (format!("kill -9 node {any}"), Undo::Restart(vec![any]))
            }
            Kind::KillLeader => {
                let p = self.rng.gen_range(0..self.partitions);
                let leader = match sut.partitions(any, &self.topic).await {
                    Ok(ps) => ps.iter().find(|v| v.index == p).map(|v| v.leader).filter(|l| *l >= 0),
                    Err(_) => None,
                }
                .unwrap_or(any);
                sut.kill9(leader);
                (format!("kill -9 node {leader} (leader of partition {p})"), Undo::Restart(vec![leader]))
            }
            Kind::KillController => {
                let c = sut.active_controller().await.unwrap_or(any);
                sut.kill9(c);
                (format!("kill -9 node {c} (active controller)"), Undo::Restart(vec![c]))
            }
            Kind::Pause => {
                sut.pause(any);
                (format!("SIGSTOP node {any}"), Undo::Resume(any))
            }
            Kind::Isolate => {
                for h in self.lab.hosts() {
                    if h != Host::Node(any) {
                        self.lab.cut(h, Host::Node(any)).expect("cut");
                    }
                }
                (format!("isolate node {any} from everyone"), Undo::Network)
            }
            Kind::IsolatePeers => {
                for id in &ids {
                    if *id != any {
                        self.lab.cut(Host::Node(*id), Host::Node(any)).expect("cut");
                    }
                }
                (format!("isolate node {any} from its peers (clients still reach it)"), Undo::Network)
            }
            Kind::OneWay => {
                let to = *ids.iter().filter(|i| **i != any).collect::<Vec<_>>().choose(&mut self.rng).unwrap();
                // Either one link, or everything the node sends to its peers.
                if self.rng.gen_bool(0.5) {
                    self.lab.drop_from(Host::Node(any), Host::Node(*to)).expect("drop");
                    (format!("drop packets node {any} -> node {to}"), Undo::Network)
                } else {
                    for id in ids.iter().filter(|i| **i != any) {
                        self.lab.drop_from(Host::Node(any), Host::Node(*id)).expect("drop");
                    }
                    (format!("drop packets node {any} -> its peers (it still hears them)"), Undo::Network)
                }
            }
            Kind::Bridge => {
                // Non-transitive: `any` reaches both halves, which do not
                // reach each other.
                let mut others: Vec<i32> = ids.iter().copied().filter(|i| *i != any).collect();
                others.shuffle(&mut self.rng);
                let (a, b) = others.split_at(others.len() / 2);
                for x in a {
                    for y in b {
                        self.lab.cut(Host::Node(*x), Host::Node(*y)).expect("cut");
                    }
                }
                (format!("bridge: {a:?} and {b:?} cut apart, node {any} reaches both"), Undo::Network)
            }
            Kind::KillAll => {
                for id in &ids {
                    sut.kill9(*id);
                }
                ("kill -9 every node".to_string(), Undo::Restart(ids.clone()))
            }
            Kind::DiskFull => {
                let with_disk: Vec<i32> = ids
                    .iter()
                    .copied()
                    .filter(|id| self.disks.get(*id as usize - 1).is_some_and(|d| d.is_some()))
                    .collect();
                let id = *with_disk.choose(&mut self.rng).expect("a node with a tmpfs log dir");
                let fs = self.disks[id as usize - 1].as_ref().unwrap();
                let filler = fs.fill("wfh-filler", 64 << 10);
                (format!("fill node {id}'s log dir"), Undo::Disk(id, filler))
            }
        };
        let hold = self.rng.gen_range(self.hold.0..=self.hold.1);
        // Holding the fault is the experiment, not a wait for a condition.
        tokio::time::sleep(hold).await;
        let healed = t0.elapsed();
        match undo {
            Undo::Restart(nodes) => sut.start(&nodes).await,
            Undo::Resume(id) => sut.resume(id),
            Undo::Network => self.lab.heal().expect("heal the network"),
            Undo::Disk(id, filler) => {
                std::fs::remove_file(&filler).expect("remove the filler");
                // Kafka takes a failed log dir offline until the broker
                // restarts; if the node does not come back by itself, do
                // what an operator would.
                if wait_whole(sut, &self.topic, Duration::from_secs(15)).await.is_err() {
                    sut.stop_node(id).await;
                    sut.start(&[id]).await;
                }
            }
        }
        if let Err(e) = wait_whole(sut, &self.topic, RECOVERY).await {
            sut.dump_logs();
            panic!("the cluster did not recover within {RECOVERY:?} after `{what}`: {e}");
        }
        FaultRecord { kind, what, start, healed, recovered: t0.elapsed() }
    }
}

/// Waits until every node is up, every node lists every broker, and every
/// partition of `topic` has a leader and its whole replica set in the ISR.
pub async fn wait_whole<S: Sut>(sut: &mut S, topic: &str, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let ids = sut.ids();
    loop {
        let last = match whole(sut, &ids, topic).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn whole<S: Sut>(sut: &mut S, ids: &[i32], topic: &str) -> Result<(), String> {
    for id in ids {
        if !sut.is_running(*id) || sut.is_paused(*id) {
            return Err(format!("node {id} is not running"));
        }
    }
    for id in ids {
        let brokers = sut.brokers(*id).await.map_err(|e| format!("node {id}: {e}"))?;
        if brokers != ids {
            return Err(format!("node {id} lists brokers {brokers:?}"));
        }
        for p in sut.partitions(*id, topic).await.map_err(|e| format!("node {id}: {e}"))? {
            let mut isr = p.isr.clone();
            isr.sort_unstable();
            let mut replicas = p.replicas.clone();
            replicas.sort_unstable();
            if p.leader < 0 || p.error != 0 || isr != replicas {
                return Err(format!("node {id}: {topic}-{}: {p:?}", p.index));
            }
        }
    }
    Ok(())
}
