//! Weir: a Kafka-wire-compatible message broker.
//!
//! Data path: [`server`] reads frames and routes each request through
//! [`handlers`] to the [`replica`] layer, which appends to and reads from
//! [`storage`] partition logs in Kafka's on-disk format. Cluster state lives
//! in [`metadata`] images produced by the [`controller`], which brokers
//! reach through [`controller_client`]. [`node`] is the composition root
//! that builds and starts all of them.

pub mod broker;
pub mod broker_lifecycle;
pub mod config;
pub mod controller;
pub mod controller_client;
pub mod coordinator;
pub mod handlers;
pub mod metadata;
pub mod node;
pub mod record;
pub mod replica;
pub mod server;
pub mod storage;
pub mod tools;
pub mod util;
pub mod wire;
