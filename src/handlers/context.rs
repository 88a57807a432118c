//! `RequestContext` (Kafka's `RequestContext`): what a handler knows about
//! where a request came from, beyond its header. It belongs to the handlers
//! that read it; the network front end (`server`) builds one per
//! connection and passes it down, so `server` depends on `handlers` and
//! never the reverse.

use std::net::SocketAddr;

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client's address.
    pub peer: SocketAddr,
    /// The name of the listener the connection arrived on (which
    /// endpoints Metadata and FindCoordinator answer with).
    pub listener: String,
}
