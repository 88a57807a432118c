//! The parts of the benches that are not about workloads: the broker
//! processes under test ([`deploy`]; Apache Kafka's in [`kafka`]), the
//! client context ([`client`]), the brokers' per-hop latency traces
//! ([`hops`]), the latency plots ([`plot`]), CPU and memory accounting from `/proc` ([`procstat`]) and the result table
//! ([`table`]). The process launcher itself ([`process`]) is the one the
//! integration tests use, included from `tests/common/process.rs`.

pub mod client;
pub mod deploy;
pub mod hops;
pub mod kafka;
pub mod plot;
#[path = "../../tests/common/process.rs"]
pub mod process;
pub mod procstat;
pub mod table;
