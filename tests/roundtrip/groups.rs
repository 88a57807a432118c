//! Round trips: Consumer groups: every group API in a full member life cycle, then the error paths of each.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------
//
// Every group API at every version takes part in a full member life cycle
// (`group_cycle`): FindCoordinator, JoinGroup (MEMBER_ID_REQUIRED from v4),
// SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, DescribeGroups,
// ListGroups, a second member's join (REBALANCE_IN_PROGRESS, the rebalance,
// ILLEGAL_GENERATION for the old generation), LeaveGroup down to an Empty
// group whose offsets remain, and an admin commit with generation -1. The
// API under test speaks each of its versions; the others speak their
// highest. Each API then checks its own error paths.

/// `group.min.session.timeout.ms` default.
pub(crate) const SESSION_MS: i32 = 6_000;
pub(crate) const REBALANCE_MS: i32 = 10_000;
/// A blocking group request (JoinGroup, SyncGroup) must answer in this.
pub(crate) const GROUP_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const CLIENT_ID: &str = "protocol-roundtrip";
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The versions one group cycle speaks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupVersions {
    pub(crate) find: i16,
    pub(crate) join: i16,
    pub(crate) sync: i16,
    pub(crate) heartbeat: i16,
    pub(crate) leave: i16,
    pub(crate) commit: i16,
    pub(crate) fetch: i16,
    pub(crate) describe: i16,
    pub(crate) list: i16,
}

impl GroupVersions {
    fn max() -> Self {
        let max = |k| *advertised(k).end();
        GroupVersions {
            find: max(ApiKey::FindCoordinator),
            join: max(ApiKey::JoinGroup),
            sync: max(ApiKey::SyncGroup),
            heartbeat: max(ApiKey::Heartbeat),
            leave: max(ApiKey::LeaveGroup),
            commit: max(ApiKey::OffsetCommit),
            fetch: max(ApiKey::OffsetFetch),
            describe: max(ApiKey::DescribeGroups),
            list: max(ApiKey::ListGroups),
        }
    }
}

pub(crate) fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// ConsumerProtocolSubscription v0 for `topics`.
pub(crate) fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// ConsumerProtocolAssignment v0.
pub(crate) fn assignment(parts: &[(&str, &[i32])]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(parts.len() as i32);
    for (t, ps) in parts {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
        b.put_i32(ps.len() as i32);
        for p in *ps {
            b.put_i32(*p);
        }
    }
    b.put_i32(-1);
    b.freeze()
}

pub(crate) async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GROUP_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {GROUP_TIMEOUT:?}"))
}

/// (error, node id, host, port) per key: one key before v4, a batch after.
pub(crate) async fn find_coordinator(c: &mut BrokerClient, v: i16, keys: &[&str]) -> Vec<(i16, i32, String, i32)> {
    let mut req = FindCoordinatorRequest::default();
    if v >= 4 {
        req.coordinator_keys = keys.iter().map(|k| s(k)).collect();
    } else {
        assert_eq!(keys.len(), 1, "FindCoordinator v{v} takes one key");
        req.key = s(keys[0]);
    }
    let resp: FindCoordinatorResponse =
        c.send(ApiKey::FindCoordinator, v, &req).await.unwrap_or_else(|e| panic!("FindCoordinator v{v}: {e}"));
    if v >= 4 {
        assert_eq!(resp.coordinators.len(), keys.len(), "v{v}: one answer per key");
        for (c, k) in resp.coordinators.iter().zip(keys) {
            assert_eq!(c.key.as_str(), *k, "v{v}: answers in key order");
        }
        resp.coordinators.iter().map(|c| (c.error_code, c.node_id.0, c.host.to_string(), c.port)).collect()
    } else {
        vec![(resp.error_code, resp.node_id.0, resp.host.to_string(), resp.port)]
    }
}

pub(crate) fn assert_is_this_broker(found: &(i16, i32, String, i32), addr: SocketAddr, what: &str) {
    assert_eq!(
        found,
        &(NONE, NODE_ID, addr.ip().to_string(), addr.port() as i32),
        "{what}: the coordinator is this broker"
    );
}

/// Waits until the group's coordinator answers (the first FindCoordinator
/// creates `__consumer_offsets`, whose partitions then load).
pub(crate) async fn wait_for_coordinator(addr: SocketAddr, group: &str) {
    let group = group.to_string();
    common::wait_until(&format!("coordinator of {group}"), Duration::from_secs(20), || {
        let group = group.clone();
        async move {
            let mut c = connect(addr).await;
            let found = find_coordinator(&mut c, 0, &[group.as_str()]).await;
            if found[0].0 != NONE {
                return false;
            }
            let resp = offset_fetch(&mut c, 8, &group, None).await;
            let code = resp.groups[0].error_code;
            assert!(
                [
                    NONE,
                    E::CoordinatorLoadInProgress.code(),
                    E::NotCoordinator.code(),
                    E::CoordinatorNotAvailable.code()
                ]
                .contains(&code),
                "OffsetFetch while the coordinator loads: {code}"
            );
            code == NONE
        }
    })
    .await;
}

pub(crate) struct JoinSpec<'a> {
    pub(crate) group: &'a str,
    pub(crate) member_id: &'a str,
    pub(crate) instance: Option<&'a str>,
    pub(crate) session_ms: i32,
    pub(crate) protocol_type: &'a str,
    pub(crate) protocols: Vec<(&'a str, Bytes)>,
}

impl<'a> JoinSpec<'a> {
    fn new(group: &'a str, member_id: &'a str, topics: &[&str]) -> Self {
        JoinSpec {
            group,
            member_id,
            instance: None,
            session_ms: SESSION_MS,
            protocol_type: "consumer",
            protocols: vec![("range", subscription(topics))],
        }
    }

    fn request(&self, v: i16) -> JoinGroupRequest {
        let mut req = JoinGroupRequest::default()
            .with_group_id(gid(self.group))
            .with_session_timeout_ms(self.session_ms)
            .with_member_id(s(self.member_id))
            .with_protocol_type(s(self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(n, m)| JoinGroupRequestProtocol::default().with_name(s(n)).with_metadata(m.clone()))
                    .collect(),
            );
        if v >= 1 {
            req.rebalance_timeout_ms = REBALANCE_MS;
        }
        if v >= 5 {
            req.group_instance_id = self.instance.map(s);
        }
        if v >= 8 {
            req.reason = Some(s("protocol round trip"));
        }
        req
    }
}

pub(crate) async fn join_group(c: &mut BrokerClient, v: i16, spec: &JoinSpec<'_>) -> JoinGroupResponse {
    bounded(&format!("JoinGroup v{v}"), c.send(ApiKey::JoinGroup, v, &spec.request(v)))
        .await
        .unwrap_or_else(|e| panic!("JoinGroup v{v}: {e}"))
}

/// A new member's join: from v4 a dynamic member is first told
/// MEMBER_ID_REQUIRED with its id, and joins again with it.
pub(crate) async fn join_new(c: &mut BrokerClient, v: i16, spec: JoinSpec<'_>) -> JoinGroupResponse {
    assert!(spec.member_id.is_empty());
    let first = join_group(c, v, &spec).await;
    if v < 4 || (v >= 5 && spec.instance.is_some()) {
        return first;
    }
    assert_eq!(first.error_code, E::MemberIdRequired.code(), "JoinGroup v{v} without member id");
    assert_eq!(first.generation_id, -1, "v{v}");
    assert!(!first.member_id.is_empty(), "v{v}: MEMBER_ID_REQUIRED carries the id");
    assert!(first.members.is_empty());
    let id = first.member_id.to_string();
    assert!(id.starts_with(CLIENT_ID), "v{v}: member id {id} starts with the client id");
    join_group(c, v, &JoinSpec { member_id: &id, ..spec }).await
}

pub(crate) fn protocol_name(r: &JoinGroupResponse) -> &str {
    r.protocol_name.as_deref().unwrap_or("")
}

/// Checks a successful join response at `v`.
pub(crate) fn assert_joined(r: &JoinGroupResponse, v: i16, generation: i32, leader: &str, members: usize) {
    assert_eq!(r.error_code, NONE, "JoinGroup v{v}");
    assert_eq!(r.generation_id, generation, "JoinGroup v{v} generation");
    assert_eq!(r.leader.as_str(), leader, "JoinGroup v{v} leader");
    assert_eq!(protocol_name(r), "range", "JoinGroup v{v} protocol");
    if v >= 7 {
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"), "v{v}");
    }
    assert!(!r.skip_assignment, "v{v}");
    assert_eq!(r.members.len(), members, "JoinGroup v{v} member list");
}

pub(crate) async fn sync_group(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: &[(&str, Bytes)],
) -> SyncGroupResponse {
    let mut req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| SyncGroupRequestAssignment::default().with_member_id(s(m)).with_assignment(a.clone()))
                .collect(),
        );
    if v >= 5 {
        req.protocol_type = Some(s("consumer"));
        req.protocol_name = Some(s("range"));
    }
    bounded(&format!("SyncGroup v{v}"), c.send(ApiKey::SyncGroup, v, &req))
        .await
        .unwrap_or_else(|e| panic!("SyncGroup v{v}: {e}"))
}

pub(crate) fn assert_synced(r: &SyncGroupResponse, v: i16, expected: &Bytes) {
    assert_eq!(r.error_code, NONE, "SyncGroup v{v}");
    assert_eq!(&r.assignment, expected, "SyncGroup v{v} assignment");
    if v >= 5 {
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"), "v{v}");
        assert_eq!(r.protocol_name.as_deref(), Some("range"), "v{v}");
    }
}

pub(crate) async fn heartbeat(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
) -> i16 {
    let mut req = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    if v >= 3 {
        req.group_instance_id = instance.map(s);
    }
    let resp: HeartbeatResponse =
        c.send(ApiKey::Heartbeat, v, &req).await.unwrap_or_else(|e| panic!("Heartbeat v{v}: {e}"));
    resp.error_code
}

/// LeaveGroup for `members` (member id, instance id): the per-member codes
/// (v3+) or the one top-level code (v0-2), plus the top-level code.
pub(crate) async fn leave_group(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    members: &[(&str, Option<&str>)],
) -> (i16, Vec<i16>) {
    let mut req = LeaveGroupRequest::default().with_group_id(gid(group));
    if v >= 3 {
        req.members = members
            .iter()
            .map(|(m, i)| {
                let mut id = MemberIdentity::default().with_member_id(s(m)).with_group_instance_id(i.map(s));
                if v >= 5 {
                    id.reason = Some(s("done"));
                }
                id
            })
            .collect();
    } else {
        assert_eq!(members.len(), 1);
        req.member_id = s(members[0].0);
    }
    let resp: LeaveGroupResponse =
        c.send(ApiKey::LeaveGroup, v, &req).await.unwrap_or_else(|e| panic!("LeaveGroup v{v}: {e}"));
    if v >= 3 {
        assert_eq!(resp.members.len(), members.len(), "v{v}: one answer per member");
        for (r, (m, i)) in resp.members.iter().zip(members) {
            assert_eq!(r.member_id.as_str(), *m, "v{v}");
            assert_eq!(r.group_instance_id.as_deref(), *i, "v{v}");
        }
        (resp.error_code, resp.members.iter().map(|m| m.error_code).collect())
    } else {
        (resp.error_code, vec![resp.error_code])
    }
}

/// Leaves one member; the member's code.
pub(crate) async fn leave_one(c: &mut BrokerClient, v: i16, group: &str, member_id: &str) -> i16 {
    let (top, codes) = leave_group(c, v, group, &[(member_id, None)]).await;
    if v >= 3 {
        assert_eq!(top, NONE, "LeaveGroup v{v} top level");
    }
    codes[0]
}

/// (topic, partition, offset, metadata)
pub(crate) type Commit<'a> = (&'a str, i32, i64, &'a str);

/// The committed leader epoch the tests use (sent from OffsetCommit v6).
pub(crate) const COMMITTED_EPOCH: i32 = 3;

pub(crate) async fn offset_commit(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[Commit<'_>],
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o, m) in offsets {
        let mut part = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(s(m)));
        if v >= 6 {
            part.committed_leader_epoch = COMMITTED_EPOCH;
        }
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(OffsetCommitRequestTopic::default().with_name(tn(t)).with_partitions(vec![part])),
        }
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics);
    let resp: OffsetCommitResponse =
        c.send(ApiKey::OffsetCommit, v, &req).await.unwrap_or_else(|e| panic!("OffsetCommit v{v}: {e}"));
    let mut out = Vec::new();
    for t in &resp.topics {
        for p in &t.partitions {
            out.push((t.name.0.to_string(), p.partition_index, p.error_code));
        }
    }
    assert_eq!(out.len(), offsets.len(), "OffsetCommit v{v}: one answer per partition");
    out
}

/// The codes of a commit, in request order.
pub(crate) async fn commit_codes(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[Commit<'_>],
) -> Vec<i16> {
    offset_commit(c, v, group, generation, member_id, offsets).await.into_iter().map(|(_, _, code)| code).collect()
}

/// OffsetFetch for one group (v8+ batches it). `topics` None: all.
pub(crate) async fn offset_fetch(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> OffsetFetchResponse {
    offset_fetch_groups(c, v, &[(group, topics)]).await
}

/// A group and the partitions asked for (None: all), by topic.
pub(crate) type GroupQuery<'a> = (&'a str, Option<&'a [(&'a str, &'a [i32])]>);

pub(crate) async fn offset_fetch_groups(
    c: &mut BrokerClient,
    v: i16,
    groups: &[GroupQuery<'_>],
) -> OffsetFetchResponse {
    let mut req = OffsetFetchRequest::default();
    if v >= 8 {
        req.groups = groups
            .iter()
            .map(|(g, topics)| {
                OffsetFetchRequestGroup::default().with_group_id(gid(g)).with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopics::default().with_name(tn(t)).with_partition_indexes(ps.to_vec())
                        })
                        .collect()
                }))
            })
            .collect();
    } else {
        assert_eq!(groups.len(), 1, "OffsetFetch v{v} takes one group");
        let (g, topics) = groups[0];
        req.group_id = gid(g);
        req.topics = topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| OffsetFetchRequestTopic::default().with_name(tn(t)).with_partition_indexes(ps.to_vec()))
                .collect()
        });
    }
    let resp: OffsetFetchResponse =
        c.send(ApiKey::OffsetFetch, v, &req).await.unwrap_or_else(|e| panic!("OffsetFetch v{v}: {e}"));
    if v >= 8 {
        assert_eq!(resp.groups.len(), groups.len(), "v{v}: one answer per group");
    }
    resp
}

/// (topic, partition) -> (offset, leader epoch, metadata, error), and the
/// group-level error, for group `i` of the response.
pub(crate) type Fetched = (i16, BTreeMap<(String, i32), (i64, i32, String, i16)>);

pub(crate) fn fetched(resp: &OffsetFetchResponse, v: i16, i: usize) -> Fetched {
    let mut out = BTreeMap::new();
    if v >= 8 {
        let g = &resp.groups[i];
        for t in &g.topics {
            for p in &t.partitions {
                let md = p.metadata.as_deref().unwrap_or("").to_string();
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    (p.committed_offset, p.committed_leader_epoch, md, p.error_code),
                );
            }
        }
        (g.error_code, out)
    } else {
        for t in &resp.topics {
            for p in &t.partitions {
                let md = p.metadata.as_deref().unwrap_or("").to_string();
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    (p.committed_offset, p.committed_leader_epoch, md, p.error_code),
                );
            }
        }
        (resp.error_code, out)
    }
}

/// The epoch a fetch at `fetch_v` shows for a commit at `commit_v`.
pub(crate) fn expected_epoch(commit_v: i16, fetch_v: i16) -> i32 {
    if commit_v >= 6 && fetch_v >= 5 {
        COMMITTED_EPOCH
    } else {
        -1
    }
}

pub(crate) async fn describe_groups(
    c: &mut BrokerClient,
    v: i16,
    groups: &[&str],
    include_ops: bool,
) -> DescribeGroupsResponse {
    let mut req = DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| gid(g)).collect());
    if v >= 3 {
        req.include_authorized_operations = include_ops;
    }
    let resp: DescribeGroupsResponse =
        c.send(ApiKey::DescribeGroups, v, &req).await.unwrap_or_else(|e| panic!("DescribeGroups v{v}: {e}"));
    assert_eq!(resp.groups.len(), groups.len(), "v{v}: one answer per group");
    resp
}

pub(crate) async fn describe_one(c: &mut BrokerClient, v: i16, group: &str) -> DescribedGroup {
    let mut resp = describe_groups(c, v, &[group], false).await;
    let g = resp.groups.remove(0);
    assert_eq!(g.error_code, NONE, "DescribeGroups v{v}");
    assert_eq!(g.group_id.0.as_str(), group);
    g
}

pub(crate) async fn list_groups(c: &mut BrokerClient, v: i16, states: &[&str], types: &[&str]) -> Vec<ListedGroup> {
    let mut req = ListGroupsRequest::default();
    if v >= 4 {
        req.states_filter = states.iter().map(|x| s(x)).collect();
    }
    if v >= 5 {
        req.types_filter = types.iter().map(|x| s(x)).collect();
    }
    let resp: ListGroupsResponse =
        c.send(ApiKey::ListGroups, v, &req).await.unwrap_or_else(|e| panic!("ListGroups v{v}: {e}"));
    assert_eq!(resp.error_code, NONE, "ListGroups v{v}");
    resp.groups
}

pub(crate) async fn listed(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    states: &[&str],
    types: &[&str],
) -> Option<ListedGroup> {
    list_groups(c, v, states, types).await.into_iter().find(|g| g.group_id.0.as_str() == group)
}

pub(crate) async fn delete_groups(c: &mut BrokerClient, v: i16, groups: &[&str]) -> Vec<i16> {
    let req = DeleteGroupsRequest::default().with_groups_names(groups.iter().map(|g| gid(g)).collect());
    let resp: DeleteGroupsResponse =
        c.send(ApiKey::DeleteGroups, v, &req).await.unwrap_or_else(|e| panic!("DeleteGroups v{v}: {e}"));
    assert_eq!(resp.results.len(), groups.len(), "v{v}: one answer per group");
    groups
        .iter()
        .map(|g| {
            resp.results
                .iter()
                .find(|r| r.group_id.0.as_str() == *g)
                .unwrap_or_else(|| panic!("v{v}: no answer for {g}"))
                .error_code
        })
        .collect()
}

/// OffsetDelete v0: (group error, per-partition codes in request order).
pub(crate) async fn offset_delete(c: &mut BrokerClient, group: &str, parts: &[(&str, i32)]) -> (i16, Vec<i16>) {
    let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
    for (t, p) in parts {
        let part = OffsetDeleteRequestPartition::default().with_partition_index(*p);
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(OffsetDeleteRequestTopic::default().with_name(tn(t)).with_partitions(vec![part])),
        }
    }
    let req = OffsetDeleteRequest::default().with_group_id(gid(group)).with_topics(topics);
    let resp: OffsetDeleteResponse =
        c.send(ApiKey::OffsetDelete, 0, &req).await.unwrap_or_else(|e| panic!("OffsetDelete v0: {e}"));
    let mut codes = Vec::new();
    for (t, p) in parts {
        if let Some(x) = resp
            .topics
            .iter()
            .find(|x| x.name.0.as_str() == *t)
            .and_then(|x| x.partitions.iter().find(|x| x.partition_index == *p))
        {
            codes.push(x.error_code);
        }
    }
    (resp.error_code, codes)
}

/// Heartbeats until the member hears of the rebalance.
pub(crate) async fn await_rebalance_notice(c: &mut BrokerClient, v: i16, group: &str, generation: i32, member: &str) {
    let start = std::time::Instant::now();
    loop {
        match heartbeat(c, v, group, generation, member, None).await {
            NONE => {}
            code if code == E::RebalanceInProgress.code() => return,
            other => panic!("Heartbeat v{v} while a member joins: {other}"),
        }
        assert!(start.elapsed() < GROUP_TIMEOUT, "no REBALANCE_IN_PROGRESS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One member's life in a group, then a second member, a rebalance, leaves.
pub(crate) async fn group_cycle(addr: SocketAddr, gv: GroupVersions, tag: &str) {
    let group = format!("rt-group-{tag}");
    let topic = format!("rt-group-{tag}");
    let g = group.as_str();
    let t = topic.as_str();
    let mut admin = connect(addr).await;
    create_topic(&mut admin, t, 3, &[]).await;
    wait_for_coordinator(addr, g).await;
    let found = find_coordinator(&mut admin, gv.find, &[g]).await;
    assert_is_this_broker(&found[0], addr, &format!("FindCoordinator v{}", gv.find));

    // The first member: leader of generation 1.
    let mut a = connect(addr).await;
    let ja = join_new(&mut a, gv.join, JoinSpec::new(g, "", &[t])).await;
    let a_id = ja.member_id.to_string();
    assert_joined(&ja, gv.join, 1, &a_id, 1);
    assert_eq!(ja.members[0].member_id.as_str(), a_id);
    assert_eq!(ja.members[0].metadata, subscription(&[t]));
    assert_eq!(ja.members[0].group_instance_id, None);
    let all = assignment(&[(t, &[0, 1, 2])]);
    let sa = sync_group(&mut a, gv.sync, g, 1, &a_id, &[(&a_id, all.clone())]).await;
    assert_synced(&sa, gv.sync, &all);

    // Heartbeats: current, stale generation, unknown member.
    let hv = gv.heartbeat;
    assert_eq!(heartbeat(&mut a, hv, g, 1, &a_id, None).await, NONE, "Heartbeat v{hv}");
    assert_eq!(heartbeat(&mut a, hv, g, 0, &a_id, None).await, E::IllegalGeneration.code(), "v{hv}");
    assert_eq!(heartbeat(&mut a, hv, g, 1, "no-such-member", None).await, E::UnknownMemberId.code(), "v{hv}");

    // Commits by the member of the current generation.
    let cv = gv.commit;
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 0, 5, "m0"), (t, 1, 7, "")]).await;
    assert_eq!(codes, vec![NONE, NONE], "OffsetCommit v{cv}");
    let codes = commit_codes(&mut a, cv, g, 0, &a_id, &[(t, 0, 6, "")]).await;
    assert_eq!(codes, vec![E::IllegalGeneration.code()], "OffsetCommit v{cv} stale generation");
    let codes = commit_codes(&mut a, cv, g, 1, "no-such-member", &[(t, 0, 6, "")]).await;
    assert_eq!(codes, vec![E::UnknownMemberId.code()], "OffsetCommit v{cv} unknown member");
    // A commit without generation is refused while the group has members.
    let codes = commit_codes(&mut admin, cv, g, -1, "", &[(t, 0, 6, "")]).await;
    assert_eq!(codes, vec![E::UnknownMemberId.code()], "OffsetCommit v{cv} gen -1 to a live group");
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 9, 1, ""), (t, 2, 1, "x")]).await;
    assert_eq!(codes, vec![E::UnknownTopicOrPartition.code(), NONE], "OffsetCommit v{cv} unknown partition");

    // Fetch: committed partitions, -1 with no error for the others.
    let fv = gv.fetch;
    let epoch = expected_epoch(cv, fv);
    let parts: &[(&str, &[i32])] = &[(t, &[0, 1, 2]), ("rt-no-such-topic", &[0])];
    let (err, got) = fetched(&offset_fetch(&mut admin, fv, g, Some(parts)).await, fv, 0);
    assert_eq!(err, NONE, "OffsetFetch v{fv}");
    let expect: BTreeMap<(String, i32), (i64, i32, String, i16)> = [
        ((t.to_string(), 0), (5, epoch, "m0".to_string(), NONE)),
        ((t.to_string(), 1), (7, epoch, String::new(), NONE)),
        ((t.to_string(), 2), (1, epoch, "x".to_string(), NONE)),
        (("rt-no-such-topic".to_string(), 0), (-1, -1, String::new(), NONE)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, expect, "OffsetFetch v{fv} (commit v{cv})");
    if fv >= 2 {
        let (err, all_offsets) = fetched(&offset_fetch(&mut admin, fv, g, None).await, fv, 0);
        assert_eq!(err, NONE);
        let mut committed = expect.clone();
        committed.remove(&("rt-no-such-topic".to_string(), 0));
        assert_eq!(all_offsets, committed, "OffsetFetch v{fv} of all partitions");
    }

    // Describe and list a stable group.
    let dv = gv.describe;
    let d = describe_one(&mut admin, dv, g).await;
    assert_eq!(d.group_state.as_str(), "Stable", "DescribeGroups v{dv}");
    assert_eq!(d.protocol_type.as_str(), "consumer");
    assert_eq!(d.protocol_data.as_str(), "range");
    assert_eq!(d.members.len(), 1);
    let m = &d.members[0];
    assert_eq!(m.member_id.as_str(), a_id);
    assert_eq!(m.client_id.as_str(), CLIENT_ID);
    assert_eq!(m.client_host.as_str(), "/127.0.0.1");
    assert_eq!(m.member_metadata, subscription(&[t]));
    assert_eq!(m.member_assignment, all);
    assert_eq!(m.group_instance_id, None);
    let lv = gv.list;
    let l = listed(&mut admin, lv, g, &[], &[]).await.expect("listed");
    assert_eq!(l.protocol_type.as_str(), "consumer", "ListGroups v{lv}");
    if lv >= 4 {
        assert_eq!(l.group_state.as_str(), "Stable", "ListGroups v{lv}");
        assert!(listed(&mut admin, lv, g, &["stable"], &[]).await.is_some());
        assert!(listed(&mut admin, lv, g, &["Empty"], &[]).await.is_none());
    }
    if lv >= 5 {
        assert_eq!(l.group_type.as_str(), "classic");
        assert!(listed(&mut admin, lv, g, &[], &["classic"]).await.is_some());
        assert!(listed(&mut admin, lv, g, &[], &["consumer"]).await.is_none());
    }

    // A second member joins: the first hears REBALANCE_IN_PROGRESS and
    // rejoins; the join phase completes when both are in.
    let jv = gv.join;
    let topic_b = t.to_string();
    let group_b = g.to_string();
    let joining = tokio::spawn(async move {
        let mut b = connect(addr).await;
        let r = join_new(&mut b, jv, JoinSpec::new(&group_b, "", &[topic_b.as_str()])).await;
        (b, r)
    });
    await_rebalance_notice(&mut a, hv, g, 1, &a_id).await;
    let sv = gv.sync;
    let r = sync_group(&mut a, sv, g, 1, &a_id, &[]).await;
    assert_eq!(r.error_code, E::RebalanceInProgress.code(), "SyncGroup v{sv} while preparing");
    // Commits of the current generation are accepted while preparing.
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 0, 6, "m0b")]).await;
    assert_eq!(codes, vec![NONE], "OffsetCommit v{cv} while preparing");
    // The last member's rejoin completes the join phase at once, not at
    // the rebalance timeout.
    let rejoined = std::time::Instant::now();
    let ja = join_group(&mut a, jv, &JoinSpec::new(g, &a_id, &[t])).await;
    assert!(
        rejoined.elapsed() < Duration::from_millis(REBALANCE_MS as u64 / 2),
        "JoinGroup v{jv}: the rebalance waited {:?} although every member had joined",
        rejoined.elapsed()
    );
    let (mut b, jb) = bounded("second member's join", joining).await.expect("join task");
    let b_id = jb.member_id.to_string();
    assert_ne!(a_id, b_id);
    assert_joined(&ja, jv, 2, &a_id, 2);
    assert_joined(&jb, jv, 2, &a_id, 0);
    let mut ids: Vec<&str> = ja.members.iter().map(|m| m.member_id.as_str()).collect();
    ids.sort();
    let mut want = vec![a_id.as_str(), b_id.as_str()];
    want.sort();
    assert_eq!(ids, want, "the leader sees every member");
    // Before the leader's SyncGroup, commits get REBALANCE_IN_PROGRESS.
    let codes = commit_codes(&mut b, cv, g, 2, &b_id, &[(t, 2, 1, "")]).await;
    assert_eq!(codes, vec![E::RebalanceInProgress.code()], "OffsetCommit v{cv} while completing");
    // The follower's SyncGroup waits for the leader's.
    let assign_a = assignment(&[(t, &[0, 1])]);
    let assign_b = assignment(&[(t, &[2])]);
    let (group_b, b_sync) = (g.to_string(), b_id.clone());
    let following = tokio::spawn(async move {
        let r = sync_group(&mut b, sv, &group_b, 2, &b_sync, &[]).await;
        (b, r)
    });
    let sa = sync_group(&mut a, sv, g, 2, &a_id, &[(&a_id, assign_a.clone()), (&b_id, assign_b.clone())]).await;
    assert_synced(&sa, sv, &assign_a);
    let (mut b, sb) = bounded("follower's sync", following).await.expect("sync task");
    assert_synced(&sb, sv, &assign_b);
    assert_eq!(heartbeat(&mut a, hv, g, 1, &a_id, None).await, E::IllegalGeneration.code(), "v{hv} old generation");
    assert_eq!(heartbeat(&mut a, hv, g, 2, &a_id, None).await, NONE, "v{hv}");
    assert_eq!(heartbeat(&mut b, hv, g, 2, &b_id, None).await, NONE, "v{hv}");
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 0, 7, "")]).await;
    assert_eq!(codes, vec![E::IllegalGeneration.code()], "OffsetCommit v{cv} of the old generation");
    let d = describe_one(&mut admin, dv, g).await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.members.len(), 2, "DescribeGroups v{dv}");
    for m in &d.members {
        let expected = if m.member_id.as_str() == a_id { &assign_a } else { &assign_b };
        assert_eq!(&m.member_assignment, expected, "DescribeGroups v{dv} assignment");
    }

    // b leaves; a rejoins alone; a leaves: the group is empty.
    let lgv = gv.leave;
    assert_eq!(leave_one(&mut b, lgv, g, &b_id).await, NONE, "LeaveGroup v{lgv}");
    assert_eq!(leave_one(&mut b, lgv, g, &b_id).await, E::UnknownMemberId.code(), "LeaveGroup v{lgv} again");
    assert_eq!(heartbeat(&mut b, hv, g, 2, &b_id, None).await, E::UnknownMemberId.code());
    await_rebalance_notice(&mut a, hv, g, 2, &a_id).await;
    let rejoined = std::time::Instant::now();
    let ja = join_group(&mut a, jv, &JoinSpec::new(g, &a_id, &[t])).await;
    assert_joined(&ja, jv, 3, &a_id, 1);
    assert!(rejoined.elapsed() < Duration::from_millis(REBALANCE_MS as u64 / 2));
    let sa = sync_group(&mut a, sv, g, 3, &a_id, &[(&a_id, all.clone())]).await;
    assert_synced(&sa, sv, &all);
    assert_eq!(leave_one(&mut a, lgv, g, &a_id).await, NONE, "LeaveGroup v{lgv}");
    let d = describe_one(&mut admin, dv, g).await;
    assert_eq!(d.group_state.as_str(), "Empty", "DescribeGroups v{dv} after leaves");
    assert!(d.members.is_empty());
    assert_eq!(d.protocol_data.as_str(), "");
    if lv >= 4 {
        let l = listed(&mut admin, lv, g, &["Empty"], &[]).await.expect("listed as Empty");
        assert_eq!(l.group_state.as_str(), "Empty");
    }
    assert_eq!(heartbeat(&mut a, hv, g, 3, &a_id, None).await, E::UnknownMemberId.code());

    // The offsets outlive the members, and an empty group accepts an
    // admin commit (generation -1), as `kafka-consumer-groups
    // --reset-offsets` sends.
    let (_, got) = fetched(&offset_fetch(&mut admin, fv, g, Some(&[(t, &[0])])).await, fv, 0);
    assert_eq!(got[&(t.to_string(), 0)].0, 6, "OffsetFetch v{fv} after the group emptied");
    let codes = commit_codes(&mut admin, cv, g, -1, "", &[(t, 0, 1, "reset")]).await;
    assert_eq!(codes, vec![NONE], "OffsetCommit v{cv} reset of an empty group");
    let (_, got) = fetched(&offset_fetch(&mut admin, fv, g, Some(&[(t, &[0])])).await, fv, 0);
    assert_eq!(got[&(t.to_string(), 0)], (1, epoch, "reset".to_string(), NONE));
}

pub(crate) async fn round_trip_find_coordinator(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    wait_for_coordinator(addr, "rt-find").await;
    for v in versions {
        let found = find_coordinator(&mut c, v, &["rt-find"]).await;
        assert_is_this_broker(&found[0], addr, &format!("FindCoordinator v{v}"));
        if v >= 4 {
            // Batched keys (KIP-699), each answered.
            let keys = ["rt-find-a", "rt-find-b", "rt-find-c"];
            let found = find_coordinator(&mut c, v, &keys).await;
            for (f, k) in found.iter().zip(keys) {
                assert_is_this_broker(f, addr, &format!("FindCoordinator v{v} {k}"));
            }
        }
        group_cycle(addr, GroupVersions { find: v, ..GroupVersions::max() }, &format!("find-v{v}")).await;
        if v >= 1 {
            super::txn_coordinator::round_trip_find_txn_coordinator(addr, v).await;
        }
    }
}

pub(crate) async fn round_trip_join_group(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        group_cycle(addr, GroupVersions { join: v, ..GroupVersions::max() }, &format!("join-v{v}")).await;
        let g = format!("rt-join-errors-v{v}");
        wait_for_coordinator(addr, &g).await;
        // Session timeouts outside [group.min.session.timeout.ms,
        // group.max.session.timeout.ms].
        for session_ms in [SESSION_MS - 1, 1_800_001] {
            let r = join_group(&mut c, v, &JoinSpec { session_ms, ..JoinSpec::new(&g, "", &["t"]) }).await;
            assert_eq!(r.error_code, E::InvalidSessionTimeout.code(), "JoinGroup v{v} session {session_ms}");
            assert_eq!(r.generation_id, -1);
        }
        // A member id the group never issued, for a group that does not exist.
        let r = join_group(&mut c, v, &JoinSpec::new(&g, "made-up-member", &["t"])).await;
        assert_eq!(r.error_code, E::UnknownMemberId.code(), "JoinGroup v{v} unknown member");
        // An empty group id.
        let r = join_group(&mut c, v, &JoinSpec::new("", "", &["t"])).await;
        assert_eq!(r.error_code, E::InvalidGroupId.code(), "JoinGroup v{v} empty group id");
        // A member with a protocol the group does not use.
        let r = join_new(&mut c, v, JoinSpec::new(&g, "", &["t"])).await;
        assert_joined(&r, v, 1, r.member_id.as_str(), 1);
        let member = r.member_id.to_string();
        let s1 = sync_group(&mut c, 5, &g, 1, &member, &[]).await;
        assert_eq!(s1.error_code, NONE);
        let mut other = connect(addr).await;
        let spec =
            JoinSpec { protocols: vec![("cooperative-sticky", subscription(&["t"]))], ..JoinSpec::new(&g, "", &["t"]) };
        let r = join_group(&mut other, v, &spec).await;
        let r = if r.error_code == E::MemberIdRequired.code() {
            join_group(&mut other, v, &JoinSpec { member_id: r.member_id.as_str(), ..spec }).await
        } else {
            r
        };
        assert_eq!(r.error_code, E::InconsistentGroupProtocol.code(), "JoinGroup v{v} other protocol");
        let spec = JoinSpec { protocol_type: "connect", ..JoinSpec::new(&g, "", &["t"]) };
        let r = join_group(&mut other, v, &spec).await;
        assert_eq!(r.error_code, E::InconsistentGroupProtocol.code(), "JoinGroup v{v} other protocol type");
        // The leader rejoining a stable group, even with the same
        // metadata, starts a new generation (leaders rejoin to trigger
        // assignments).
        let r = join_group(&mut c, v, &JoinSpec::new(&g, &member, &["t"])).await;
        assert_joined(&r, v, 2, &member, 1);
        assert_eq!(leave_one(&mut c, 5, &g, &member).await, NONE);
        if v >= 5 {
            static_membership(addr, v).await;
        }
    }
}

/// Static membership (JoinGroup v5+): a restarted instance gets a new
/// member id without a rebalance, and the old id is fenced.
pub(crate) async fn static_membership(addr: SocketAddr, v: i16) {
    let g = format!("rt-static-v{v}");
    let t = "rt-static";
    wait_for_coordinator(addr, &g).await;
    let mut c = connect(addr).await;
    let spec = JoinSpec { instance: Some("instance-1"), ..JoinSpec::new(&g, "", &[t]) };
    // No MEMBER_ID_REQUIRED for a static member.
    let r = join_group(&mut c, v, &spec).await;
    let old = r.member_id.to_string();
    assert_joined(&r, v, 1, &old, 1);
    assert!(old.starts_with("instance-1-"), "v{v}: static member id {old}");
    assert_eq!(r.members[0].group_instance_id.as_deref(), Some("instance-1"));
    let a = assignment(&[(t, &[0])]);
    let mut sreq = SyncGroupRequest::default()
        .with_group_id(gid(&g))
        .with_generation_id(1)
        .with_member_id(s(&old))
        .with_group_instance_id(Some(s("instance-1")))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(&old))
            .with_assignment(a.clone())]);
    sreq.protocol_type = Some(s("consumer"));
    sreq.protocol_name = Some(s("range"));
    let sr: SyncGroupResponse = c.send(ApiKey::SyncGroup, 5, &sreq).await.unwrap();
    assert_eq!(sr.error_code, NONE);
    let d = describe_one(&mut c, 5, &g).await;
    assert_eq!(d.members[0].group_instance_id.as_deref(), Some("instance-1"));
    // The instance restarts: same instance id, no member id.
    let mut c2 = connect(addr).await;
    let r = join_group(&mut c2, v, &spec).await;
    assert_eq!(r.error_code, NONE, "JoinGroup v{v} static rejoin");
    let new = r.member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(r.generation_id, 1, "v{v}: no rebalance for a static member's restart");
    if v >= 9 {
        // The leader learns it leads, and that it must not assign.
        assert_eq!(r.leader.as_str(), new);
        assert!(r.skip_assignment, "v{v}");
        assert_eq!(r.members.len(), 1);
    } else {
        // The old leader id, so the new member does not assign.
        assert_eq!(r.leader.as_str(), old, "v{v}");
        assert!(r.members.is_empty());
    }
    let d = describe_one(&mut c, 5, &g).await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id.as_str(), new);
    assert_eq!(d.members[0].member_assignment, a, "the assignment stays");
    // The old incarnation is fenced.
    let code = heartbeat(&mut c, 4, &g, 1, &old, Some("instance-1")).await;
    assert_eq!(code, E::FencedInstanceId.code(), "Heartbeat of the replaced static member");
    assert_eq!(heartbeat(&mut c2, 4, &g, 1, &new, Some("instance-1")).await, NONE);
    // The new incarnation's SyncGroup returns the kept assignment.
    let mut sreq = sreq.clone();
    sreq.member_id = s(&new);
    sreq.assignments.clear();
    let sr: SyncGroupResponse = c2.send(ApiKey::SyncGroup, 5, &sreq).await.unwrap();
    assert_eq!((sr.error_code, sr.assignment), (NONE, a));
    // An admin removes it by instance id (LeaveGroup v3+).
    let (top, codes) = leave_group(&mut c, 5, &g, &[("", Some("instance-1"))]).await;
    assert_eq!((top, codes), (NONE, vec![NONE]));
    assert_eq!(describe_one(&mut c, 5, &g).await.group_state.as_str(), "Empty");
}

pub(crate) async fn round_trip_sync_group(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        group_cycle(addr, GroupVersions { sync: v, ..GroupVersions::max() }, &format!("sync-v{v}")).await;
        let g = format!("rt-sync-errors-v{v}");
        wait_for_coordinator(addr, &g).await;
        // Unknown group, empty group id.
        let r = sync_group(&mut c, v, &g, 1, "nobody", &[]).await;
        assert_eq!(r.error_code, E::UnknownMemberId.code(), "SyncGroup v{v} unknown group");
        let r = sync_group(&mut c, v, "", 1, "nobody", &[]).await;
        assert_eq!(r.error_code, E::InvalidGroupId.code(), "SyncGroup v{v} empty group id");
        let r = join_new(&mut c, 9, JoinSpec::new(&g, "", &["t"])).await;
        let member = r.member_id.to_string();
        let r = sync_group(&mut c, v, &g, 7, &member, &[]).await;
        assert_eq!(r.error_code, E::IllegalGeneration.code(), "SyncGroup v{v} wrong generation");
        let r = sync_group(&mut c, v, &g, 1, "nobody", &[]).await;
        assert_eq!(r.error_code, E::UnknownMemberId.code(), "SyncGroup v{v} unknown member");
        if v >= 5 {
            let mut req =
                SyncGroupRequest::default().with_group_id(gid(&g)).with_generation_id(1).with_member_id(s(&member));
            req.protocol_type = Some(s("consumer"));
            req.protocol_name = Some(s("roundrobin"));
            let r: SyncGroupResponse = c.send(ApiKey::SyncGroup, v, &req).await.unwrap();
            assert_eq!(r.error_code, E::InconsistentGroupProtocol.code(), "SyncGroup v{v} other protocol");
        }
        let r = sync_group(&mut c, v, &g, 1, &member, &[]).await;
        assert_eq!(r.error_code, NONE);
        assert!(r.assignment.is_empty(), "v{v}: a member the leader left out gets an empty assignment");
        assert_eq!(leave_one(&mut c, 5, &g, &member).await, NONE);
    }
}

pub(crate) async fn round_trip_heartbeat(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    wait_for_coordinator(addr, "rt-heartbeat-errors").await;
    for v in versions {
        group_cycle(addr, GroupVersions { heartbeat: v, ..GroupVersions::max() }, &format!("heartbeat-v{v}")).await;
        assert_eq!(heartbeat(&mut c, v, "rt-heartbeat-errors", 1, "m", None).await, E::UnknownMemberId.code(), "v{v}");
        assert_eq!(heartbeat(&mut c, v, "", 1, "m", None).await, E::InvalidGroupId.code(), "v{v}");
    }
}

pub(crate) async fn round_trip_leave_group(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        group_cycle(addr, GroupVersions { leave: v, ..GroupVersions::max() }, &format!("leave-v{v}")).await;
        let g = format!("rt-leave-errors-v{v}");
        wait_for_coordinator(addr, &g).await;
        // Unknown group: the member is unknown.
        assert_eq!(leave_one(&mut c, v, &g, "nobody").await, E::UnknownMemberId.code(), "LeaveGroup v{v}");
        if v >= 3 {
            // Two members leave in one request (KIP-345 batch), one unknown.
            let mut a = connect(addr).await;
            let ja = join_new(&mut a, 9, JoinSpec::new(&g, "", &["t"])).await;
            let a_id = ja.member_id.to_string();
            let sa = sync_group(&mut a, 5, &g, 1, &a_id, &[]).await;
            assert_eq!(sa.error_code, NONE);
            let (top, codes) = leave_group(&mut c, v, &g, &[(&a_id, None), ("nobody", None)]).await;
            assert_eq!(top, NONE, "LeaveGroup v{v}");
            assert_eq!(codes, vec![NONE, E::UnknownMemberId.code()], "LeaveGroup v{v} batch");
            assert_eq!(describe_one(&mut c, 5, &g).await.group_state.as_str(), "Empty");
        }
    }
}

pub(crate) async fn round_trip_offset_commit(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    create_topic(&mut c, "rt-offset-commit", 2, &[]).await;
    for v in versions {
        group_cycle(addr, GroupVersions { commit: v, ..GroupVersions::max() }, &format!("commit-v{v}")).await;
        // A group that only stores offsets (no members): generation -1.
        let g = format!("rt-commit-simple-v{v}");
        wait_for_coordinator(addr, &g).await;
        let codes =
            commit_codes(&mut c, v, &g, -1, "", &[("rt-offset-commit", 0, 10, "a"), ("rt-offset-commit", 1, 20, "b")])
                .await;
        assert_eq!(codes, vec![NONE, NONE], "OffsetCommit v{v}");
        let (_, got) = fetched(&offset_fetch(&mut c, 9, &g, None).await, 9, 0);
        let epoch = expected_epoch(v, 9);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![
                (("rt-offset-commit".to_string(), 0), (10, epoch, "a".to_string(), NONE)),
                (("rt-offset-commit".to_string(), 1), (20, epoch, "b".to_string(), NONE)),
            ],
            "OffsetFetch after OffsetCommit v{v}"
        );
        // A positive generation for a group that does not exist.
        let none = format!("rt-commit-none-v{v}");
        wait_for_coordinator(addr, &none).await;
        let codes = commit_codes(&mut c, v, &none, 1, "m", &[("rt-offset-commit", 0, 1, "")]).await;
        assert_eq!(codes, vec![E::IllegalGeneration.code()], "OffsetCommit v{v} to an unknown group");
        // Metadata over offset.metadata.max.bytes (4096).
        let big = "x".repeat(4097);
        let codes = commit_codes(&mut c, v, &g, -1, "", &[("rt-offset-commit", 0, 11, &big)]).await;
        assert_eq!(codes, vec![E::OffsetMetadataTooLarge.code()], "OffsetCommit v{v} large metadata");
        let (_, got) = fetched(&offset_fetch(&mut c, 9, &g, Some(&[("rt-offset-commit", &[0])])).await, 9, 0);
        assert_eq!(got[&("rt-offset-commit".to_string(), 0)].0, 10, "v{v}: the refused commit changed nothing");
    }
}

pub(crate) async fn round_trip_offset_fetch(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    create_topic(&mut c, "rt-offset-fetch", 2, &[]).await;
    wait_for_coordinator(addr, "rt-fetch-known").await;
    let codes = commit_codes(&mut c, 9, "rt-fetch-known", -1, "", &[("rt-offset-fetch", 1, 42, "meta")]).await;
    assert_eq!(codes, vec![NONE]);
    let want = |o: i64, e: i32, m: &str| (o, e, m.to_string(), NONE);
    for v in versions {
        group_cycle(addr, GroupVersions { fetch: v, ..GroupVersions::max() }, &format!("fetch-v{v}")).await;
        let epoch = if v >= 5 { COMMITTED_EPOCH } else { -1 };
        // An unknown group: -1 and no error for each requested partition.
        wait_for_coordinator(addr, "rt-fetch-unknown").await;
        let (err, got) =
            fetched(&offset_fetch(&mut c, v, "rt-fetch-unknown", Some(&[("rt-offset-fetch", &[0, 1])])).await, v, 0);
        assert_eq!(err, NONE, "OffsetFetch v{v} unknown group");
        assert_eq!(got.len(), 2);
        assert!(got.values().all(|x| *x == want(-1, -1, "")), "OffsetFetch v{v}: {got:?}");
        if v >= 2 {
            let (err, got) = fetched(&offset_fetch(&mut c, v, "rt-fetch-unknown", None).await, v, 0);
            assert_eq!((err, got.len()), (NONE, 0), "OffsetFetch v{v} all of an unknown group");
        }
        if v >= 8 {
            // Several groups in one request (KIP-709).
            let resp = offset_fetch_groups(
                &mut c,
                v,
                &[
                    ("rt-fetch-known", Some(&[("rt-offset-fetch", &[0, 1])])),
                    ("rt-fetch-unknown", None),
                    ("rt-fetch-known", None),
                ],
            )
            .await;
            let ids: Vec<&str> = resp.groups.iter().map(|g| g.group_id.0.as_str()).collect();
            assert_eq!(ids, vec!["rt-fetch-known", "rt-fetch-unknown", "rt-fetch-known"]);
            let (e0, g0) = fetched(&resp, v, 0);
            let (e1, g1) = fetched(&resp, v, 1);
            let (e2, g2) = fetched(&resp, v, 2);
            assert_eq!((e0, e1, e2), (NONE, NONE, NONE));
            assert_eq!(g0[&("rt-offset-fetch".to_string(), 0)], want(-1, -1, ""));
            assert_eq!(g0[&("rt-offset-fetch".to_string(), 1)], want(42, epoch, "meta"));
            assert!(g1.is_empty());
            assert_eq!(g2.len(), 1);
            assert_eq!(g2[&("rt-offset-fetch".to_string(), 1)], want(42, epoch, "meta"));
        } else {
            let (err, got) =
                fetched(&offset_fetch(&mut c, v, "rt-fetch-known", Some(&[("rt-offset-fetch", &[1])])).await, v, 0);
            assert_eq!(err, NONE);
            assert_eq!(got[&("rt-offset-fetch".to_string(), 1)], want(42, epoch, "meta"), "OffsetFetch v{v}");
        }
    }
}

pub(crate) async fn round_trip_describe_groups(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    wait_for_coordinator(addr, "rt-describe-unknown").await;
    for v in versions {
        group_cycle(addr, GroupVersions { describe: v, ..GroupVersions::max() }, &format!("describe-v{v}")).await;
        // An unknown group is described as Dead, without error.
        let d = describe_one(&mut c, v, "rt-describe-unknown").await;
        assert_eq!(d.group_state.as_str(), "Dead", "DescribeGroups v{v}");
        assert!(d.members.is_empty());
        assert_eq!(d.protocol_type.as_str(), "");
        // Authorized operations only when asked (v3+).
        let r = describe_groups(&mut c, v, &["rt-describe-unknown", "rt-group-describe-v0"], v >= 3).await;
        for g in &r.groups {
            if v >= 3 {
                assert_ne!(g.authorized_operations, AUTHORIZED_OPERATIONS_OMITTED, "v{v}");
                // READ (3), DESCRIBE (8), DELETE (6) at least.
                for op in [3, 6, 8] {
                    assert!(g.authorized_operations & (1 << op) != 0, "v{v}: operation {op}");
                }
            } else {
                assert_eq!(g.authorized_operations, AUTHORIZED_OPERATIONS_OMITTED, "v{v}");
            }
        }
        assert_eq!(r.groups[1].group_state.as_str(), "Empty", "v{v}: a group emptied by its cycle");
    }
}

pub(crate) async fn round_trip_list_groups(addr: SocketAddr, versions: RangeInclusive<i16>) {
    for v in versions {
        group_cycle(addr, GroupVersions { list: v, ..GroupVersions::max() }, &format!("list-v{v}")).await;
    }
}

pub(crate) async fn round_trip_delete_groups(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    create_topic(&mut c, "rt-delete-groups", 1, &[]).await;
    for v in versions {
        let (g, live) = (format!("rt-delete-v{v}"), format!("rt-delete-live-v{v}"));
        wait_for_coordinator(addr, &g).await;
        wait_for_coordinator(addr, &live).await;
        let codes = commit_codes(&mut c, 9, &g, -1, "", &[("rt-delete-groups", 0, 3, "")]).await;
        assert_eq!(codes, vec![NONE]);
        // A group with a member cannot be deleted.
        let mut m = connect(addr).await;
        let r = join_new(&mut m, 9, JoinSpec::new(&live, "", &["rt-delete-groups"])).await;
        let member = r.member_id.to_string();
        assert_eq!(sync_group(&mut m, 5, &live, 1, &member, &[]).await.error_code, NONE);
        let codes = delete_groups(&mut c, v, &[&g, &live, "rt-delete-never-existed"]).await;
        assert_eq!(codes, vec![NONE, E::NonEmptyGroup.code(), E::GroupIdNotFound.code()], "DeleteGroups v{v}");
        // The deleted group's offsets are gone, and so is the group.
        let (_, got) = fetched(&offset_fetch(&mut c, 9, &g, Some(&[("rt-delete-groups", &[0])])).await, 9, 0);
        assert_eq!(got[&("rt-delete-groups".to_string(), 0)].0, -1, "v{v}: offsets deleted");
        assert_eq!(describe_one(&mut c, 5, &g).await.group_state.as_str(), "Dead");
        assert!(listed(&mut c, 5, &g, &[], &[]).await.is_none());
        assert_eq!(delete_groups(&mut c, v, &[&g]).await, vec![E::GroupIdNotFound.code()], "v{v} again");
        // Once its member left, the other group can go.
        assert_eq!(leave_one(&mut m, 5, &live, &member).await, NONE);
        assert_eq!(delete_groups(&mut c, v, &[&live]).await, vec![NONE], "DeleteGroups v{v}");
    }
}

pub(crate) async fn round_trip_offset_delete(addr: SocketAddr, versions: RangeInclusive<i16>) {
    assert_eq!(versions, 0..=0);
    let mut c = connect(addr).await;
    let (t, u) = ("rt-offset-delete-t", "rt-offset-delete-u");
    create_topic(&mut c, t, 2, &[]).await;
    create_topic(&mut c, u, 1, &[]).await;
    let g = "rt-offset-delete";
    wait_for_coordinator(addr, g).await;
    // A member subscribed to t (not u) commits both.
    let mut m = connect(addr).await;
    let r = join_new(&mut m, 9, JoinSpec::new(g, "", &[t])).await;
    let member = r.member_id.to_string();
    assert_eq!(sync_group(&mut m, 5, g, 1, &member, &[]).await.error_code, NONE);
    let codes = commit_codes(&mut m, 9, g, 1, &member, &[(t, 0, 1, ""), (t, 1, 2, ""), (u, 0, 3, "")]).await;
    assert_eq!(codes, vec![NONE, NONE, NONE]);
    // Offsets of a subscribed topic cannot be deleted; others can.
    let (err, codes) = offset_delete(&mut c, g, &[(t, 0), (u, 0), ("rt-no-such-topic", 0)]).await;
    assert_eq!(err, NONE, "OffsetDelete v0");
    assert_eq!(
        codes,
        vec![E::GroupSubscribedToTopic.code(), NONE, E::UnknownTopicOrPartition.code()],
        "OffsetDelete v0 per partition"
    );
    let (_, got) = fetched(&offset_fetch(&mut c, 9, g, None).await, 9, 0);
    let keys: Vec<_> = got.keys().cloned().collect();
    assert_eq!(keys, vec![(t.to_string(), 0), (t.to_string(), 1)], "u's offset is gone");
    // Once the group is empty, any offset can go.
    assert_eq!(leave_one(&mut m, 5, g, &member).await, NONE);
    let (err, codes) = offset_delete(&mut c, g, &[(t, 0)]).await;
    assert_eq!((err, codes), (NONE, vec![NONE]), "OffsetDelete v0 of an empty group");
    let (_, got) = fetched(&offset_fetch(&mut c, 9, g, Some(&[(t, &[0, 1])])).await, 9, 0);
    assert_eq!(got[&(t.to_string(), 0)].0, -1);
    assert_eq!(got[&(t.to_string(), 1)].0, 2);
    // Unknown group; no group id (Kafka's isValidGroupId: OffsetDelete,
    // unlike OffsetCommit and OffsetFetch, needs one).
    let (err, codes) = offset_delete(&mut c, "rt-offset-delete-unknown", &[(t, 0)]).await;
    assert_eq!(err, E::GroupIdNotFound.code(), "OffsetDelete v0 unknown group");
    assert!(codes.is_empty());
    let (err, codes) = offset_delete(&mut c, "", &[(t, 0)]).await;
    assert_eq!(err, E::InvalidGroupId.code(), "OffsetDelete v0 empty group id");
    assert!(codes.is_empty());
}
