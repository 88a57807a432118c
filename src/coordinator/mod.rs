//! Coordinators: producer ids for idempotent producers, the group
//! coordinator over `__consumer_offsets` and the transaction coordinator
//! over `__transaction_state`, with the record schemas of both topics.

pub mod group;
pub mod producer_id_manager;
pub mod record_schemas;
pub mod transaction;
