//! Offline tools run from the `weir` command line (they read files; no
//! broker needs to be running).

pub mod dump_log;
