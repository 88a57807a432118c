//! The network front end (Kafka's `SocketServer`): listeners accept
//! connections, each connection reads frames and answers them in order,
//! dispatch routes a request to the handler of its API, quotas count
//! connections against the limits. Starting a node is the composition
//! root's job (`node`), which binds the listeners and runs the accept loops.

pub mod connection;
pub mod dispatch;
pub mod listener;
pub mod quotas;
