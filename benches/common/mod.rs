//! The parts of the throughput bench that are not about workloads: the
//! broker processes under test ([`deploy`]), CPU and memory accounting
//! from `/proc` ([`procstat`]) and the result table ([`table`]).

pub mod deploy;
pub mod procstat;
pub mod table;
