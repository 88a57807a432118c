//! Where the time of a write goes: reads the brokers' `WEIR_HOP_TRACE`
//! lines (one per batch the leader appended; see
//! `weir::replica::hop_trace`) and turns them into per-hop latencies.
//!
//! The hops of one batch, all on the machine's monotonic clock (the
//! bench's own stamps converted to it):
//! * `client send`: the producer application hands the batch's last record
//!   to librdkafka -> the broker reads the produce request carrying it
//!   (linger, librdkafka's queues and threads, the network);
//! * `queue`: produce request read from the socket -> its handling starts
//!   (it waits behind the connection's earlier requests, as in Kafka);
//! * `append`: handling starts -> batch appended on the leader;
//! * `to followers`: appended -> the last follower's fetch response
//!   carrying it is ready (the follower's long poll woke);
//! * `follower ack`: that response -> the follower's next fetch, past the
//!   batch, read from the socket (network, follower append, next
//!   request), the slower follower;
//! * `ack queue`: that fetch read -> handled (it waits behind the
//!   connection's earlier requests and for a worker thread), the slower
//!   follower; traces without the read time (older builds) count it in
//!   `follower ack`;
//! * `hw`: appended -> high watermark past the batch;
//! * `respond`: high watermark (acks=all) or append (acks=1) -> produce
//!   response ready;
//! * `to consumer`: high watermark -> first consumer fetch returning it;
//! * `client receive`: that fetch response ready -> the consumer
//!   application's `poll` returns the record (the network, librdkafka's
//!   fetch queue and threads).

use std::collections::HashMap;

/// The hop names, in path order; `follower_hops` says whether the ones
/// that need followers are included.
pub fn hop_names(follower_hops: bool) -> Vec<&'static str> {
    let mut names = vec!["client send", "queue", "append"];
    if follower_hops {
        names.extend(["to followers", "follower ack", "ack queue"]);
    }
    names.extend(["hw", "respond", "to consumer", "client receive"]);
    names
}

/// Per hop, the latencies in ms of the traced batches received at or
/// after `from_ns` (monotonic), sorted ascending. `clients` maps a
/// record's offset to when the application sent it and when the consumer
/// application got it (monotonic), for the client hops.
pub fn hop_latencies(
    trace: &str,
    from_ns: u64,
    follower_hops: bool,
    clients: &HashMap<i64, (u64, u64)>,
) -> Vec<(&'static str, Vec<f64>)> {
    let mut out: HashMap<&'static str, Vec<f64>> = HashMap::new();
    for line in trace.lines().filter(|l| l.starts_with("hop ")) {
        let fields: HashMap<&str, &str> = line.split_whitespace().filter_map(|f| f.split_once('=')).collect();
        let num = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0);
        let (Some(received), Some(started), Some(appended)) = (num("received"), num("started"), num("appended")) else {
            continue;
        };
        if received < from_ns {
            continue;
        }
        let ms = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e6;
        let mut push = |hop: &'static str, v: Option<f64>| {
            if let Some(v) = v {
                out.entry(hop).or_default().push(v);
            }
        };
        let client = fields.get("offset").and_then(|o| o.parse::<i64>().ok()).and_then(|o| clients.get(&o));
        push("client send", client.map(|(sent, _)| ms(*sent, received)));
        push("client receive", client.zip(num("consumed")).map(|((_, got), c)| ms(c, *got)));
        push("queue", Some(ms(received, started)));
        push("append", Some(ms(started, appended)));
        let hw = num("hw");
        if follower_hops {
            // Followers appear as sent.<id> / ackrx.<id> / acked.<id>.
            let mut sent = Vec::new();
            let mut acked = Vec::new();
            for (k, _) in fields.iter() {
                if let Some(id) = k.strip_prefix("sent.") {
                    let a = num(&format!("acked.{id}"));
                    let rx = num(&format!("ackrx.{id}")).or(a);
                    let s = num(k);
                    sent.push(s);
                    acked.push(s.zip(rx).zip(a));
                }
            }
            if !sent.is_empty() && sent.iter().all(Option::is_some) {
                push("to followers", sent.iter().flatten().max().map(|s| ms(appended, *s)));
            }
            if !acked.is_empty() && acked.iter().all(Option::is_some) {
                push("follower ack", acked.iter().flatten().map(|((s, rx), _)| ms(*s, *rx)).reduce(f64::max));
                push("ack queue", acked.iter().flatten().map(|((_, rx), a)| ms(*rx, *a)).reduce(f64::max));
            }
        }
        push("hw", hw.map(|h| ms(appended, h)));
        let acks_all = fields.get("acks") == Some(&"-1");
        let responded_after = if acks_all { hw } else { Some(appended) };
        push("respond", responded_after.zip(num("response")).map(|(a, r)| ms(a, r)));
        push("to consumer", hw.zip(num("consumed")).map(|(h, c)| ms(h, c)));
    }
    hop_names(follower_hops)
        .into_iter()
        .map(|name| {
            let mut v = out.remove(name).unwrap_or_default();
            v.sort_by(f64::total_cmp);
            (name, v)
        })
        .collect()
}

/// The value at quantile `q` of sorted `v` (nearest rank); NaN if empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}
