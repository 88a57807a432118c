//! The parts of the benches that are not about workloads: the broker
//! processes under test ([`deploy`]), the client context ([`client`]), CPU
//! and memory accounting from `/proc` ([`procstat`]) and the result table
//! ([`table`]).

pub mod client;
pub mod deploy;
pub mod procstat;
pub mod table;
