//! Replica placement (Kafka's rack-aware assignment): replicas of each
//! partition on distinct brokers, spread evenly, preferred leaders (first
//! replicas) rotating across brokers, and with racks, no two replicas of a
//! partition in one rack while racks suffice.

use rand::Rng;

/// A live broker that may receive replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    pub id: i32,
    pub rack: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PlacementError(pub String);

/// Assigns `partitions` partitions (numbered from `first_partition`) with
/// `replication_factor` replicas each. `seed` fixes the rotation start
/// (random when `None`).
pub fn place(
    brokers: &[UsableBroker],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
    seed: Option<(usize, usize)>,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    let rf = replication_factor as usize;
    if brokers.is_empty() {
        return Err(PlacementError("There are no usable brokers to place replicas on.".into()));
    }
    if rf > brokers.len() {
        return Err(PlacementError(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        )));
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_by_key(|b| b.id);
    let n = sorted.len();
    let (start, shift) = seed.unwrap_or_else(|| {
        let mut rng = rand::thread_rng();
        (rng.gen_range(0..n), rng.gen_range(0..n))
    });
    let has_racks = sorted.iter().all(|b| b.rack.is_some());
    if has_racks {
        Ok(place_rack_aware(&sorted, partitions, rf, first_partition, start, shift))
    } else {
        let ids: Vec<i32> = sorted.iter().map(|b| b.id).collect();
        Ok(place_unaware(&ids, partitions, rf, first_partition, start, shift))
    }
}

fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    (first + 1 + (shift + j) % (n - 1).max(1)) % n
}

fn place_unaware(
    ids: &[i32],
    partitions: i32,
    rf: usize,
    first_partition: i32,
    start: usize,
    mut shift: usize,
) -> Vec<Vec<i32>> {
    let n = ids.len();
    let mut out = Vec::with_capacity(partitions.max(0) as usize);
    for current in (first_partition.max(0) as usize..).take(partitions.max(0) as usize) {
        if current > 0 && current % n == 0 {
            shift += 1;
        }
        let first = (current + start) % n;
        let mut replicas = vec![ids[first]];
        for j in 0..rf.saturating_sub(1) {
            replicas.push(ids[replica_index(first, shift, j, n)]);
        }
        out.push(replicas);
    }
    out
}

/// Brokers ordered so consecutive entries alternate racks
/// (rack1-b1, rack2-b1, rack3-b1, rack1-b2, ...).
fn rack_alternated(brokers: &[UsableBroker]) -> Vec<&UsableBroker> {
    let mut racks: Vec<(&str, Vec<&UsableBroker>)> = Vec::new();
    for b in brokers {
        let r = b.rack.as_deref().unwrap_or("");
        match racks.iter_mut().find(|(name, _)| *name == r) {
            Some((_, v)) => v.push(b),
            None => racks.push((r, vec![b])),
        }
    }
    racks.sort_by(|a, b| a.0.cmp(b.0));
    let max = racks.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..max {
        for (_, v) in &racks {
            if let Some(b) = v.get(i) {
                out.push(*b);
            }
        }
    }
    out
}

fn place_rack_aware(
    brokers: &[UsableBroker],
    partitions: i32,
    rf: usize,
    first_partition: i32,
    start: usize,
    mut shift: usize,
) -> Vec<Vec<i32>> {
    let arranged = rack_alternated(brokers);
    let n = arranged.len();
    let num_racks = {
        let mut r: Vec<&str> = arranged.iter().map(|b| b.rack.as_deref().unwrap_or("")).collect();
        r.sort_unstable();
        r.dedup();
        r.len()
    };
    let mut out = Vec::with_capacity(partitions.max(0) as usize);
    for current in (first_partition.max(0) as usize..).take(partitions.max(0) as usize) {
        if current > 0 && current % n == 0 {
            shift += 1;
        }
        let first = (current + start) % n;
        let leader = arranged[first];
        let mut replicas = vec![leader.id];
        let mut racks_with_replica = vec![leader.rack.as_deref().unwrap_or("")];
        let mut brokers_with_replica = vec![leader.id];
        let mut k = 0;
        for _ in 0..rf.saturating_sub(1) {
            loop {
                let candidate = arranged[replica_index(first, shift * num_racks, k, n)];
                k += 1;
                let rack = candidate.rack.as_deref().unwrap_or("");
                let rack_ok = !racks_with_replica.contains(&rack) || racks_with_replica.len() == num_racks;
                let broker_ok = !brokers_with_replica.contains(&candidate.id) || brokers_with_replica.len() == n;
                if rack_ok && broker_ok {
                    replicas.push(candidate.id);
                    brokers_with_replica.push(candidate.id);
                    if !racks_with_replica.contains(&rack) {
                        racks_with_replica.push(rack);
                    }
                    // Once every rack holds a replica, start over on racks.
                    if racks_with_replica.len() == num_racks {
                        racks_with_replica.clear();
                    }
                    break;
                }
            }
        }
        out.push(replicas);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn brokers(n: i32, racks: Option<usize>) -> Vec<UsableBroker> {
        (1..=n).map(|id| UsableBroker { id, rack: racks.map(|r| format!("rack{}", (id as usize - 1) % r)) }).collect()
    }

    #[test]
    fn replicas_are_distinct_and_leaders_spread() {
        for seed in [(0, 0), (1, 2), (2, 1)] {
            let a = place(&brokers(3, None), 6, 3, 0, Some(seed)).unwrap();
            let mut leaders: HashMap<i32, usize> = HashMap::new();
            for r in &a {
                assert_eq!(r.iter().collect::<HashSet<_>>().len(), 3);
                *leaders.entry(r[0]).or_default() += 1;
            }
            assert!(leaders.values().all(|&c| c == 2), "{a:?}");
        }
    }

    #[test]
    fn rack_aware_never_doubles_a_rack_while_racks_suffice() {
        let bs = brokers(6, Some(3));
        let a = place(&bs, 12, 3, 0, Some((1, 1))).unwrap();
        let rack_of: HashMap<i32, String> = bs.iter().map(|b| (b.id, b.rack.clone().unwrap())).collect();
        let mut leaders: HashMap<i32, usize> = HashMap::new();
        for r in &a {
            let racks: HashSet<_> = r.iter().map(|id| &rack_of[id]).collect();
            assert_eq!(racks.len(), 3, "{r:?}");
            assert_eq!(r.iter().collect::<HashSet<_>>().len(), 3);
            *leaders.entry(r[0]).or_default() += 1;
        }
        assert!(leaders.values().all(|&c| c == 2), "{leaders:?}");
    }

    #[test]
    fn too_few_brokers_is_an_error() {
        let e = place(&brokers(1, None), 1, 3, 0, None).unwrap_err();
        assert!(e.0.contains("only 1 broker(s) are registered"));
    }
}
