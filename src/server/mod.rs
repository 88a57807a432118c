//! The network front end: listeners accept connections, each connection
//! reads frames and answers them in order, dispatch routes a request to the
//! handler of its API, quotas count connections against the limits.

pub mod connection;
pub mod dispatch;
pub mod listener;
pub mod quotas;

pub use listener::{start, RunningServer};
