//! Coordinators: producer ids for idempotent producers (and, later, the
//! group and transaction coordinators).

pub mod group;
pub mod producer_id_manager;
pub mod record_schemas;
