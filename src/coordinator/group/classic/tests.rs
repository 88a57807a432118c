//! The classic group state machine on its own: no broker, no sleeping.
//! Time is a tokio `Instant` the tests construct and advance by hand, and
//! responses are oneshot channels read with `try_recv`.

use super::*;

use std::time::Duration;

use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::oneshot::Receiver;

const NONE: i16 = 0;
const NOT_COORDINATOR: i16 = 16;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const FENCED_INSTANCE_ID: i16 = 82;

/// The wire code of a join or sync answer, as the handlers send it.
trait ErrorCode {
    fn error_code(&self) -> i16;
}

impl ErrorCode for JoinResult {
    fn error_code(&self) -> i16 {
        GroupError::code(self.error.as_ref())
    }
}

impl ErrorCode for SyncResult {
    fn error_code(&self) -> i16 {
        GroupError::code(self.error.as_ref())
    }
}

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn timeouts(initial_delay_ms: u64) -> GroupTimeouts {
    GroupTimeouts { initial_rebalance_delay_ms: initial_delay_ms, new_member_join_timeout_ms: 300_000 }
}

/// (name, metadata) pairs; the metadata names the member and protocol so
/// the tests can tell whose metadata the leader received.
fn protocols(member: &str, names: &[&str]) -> Vec<(String, Bytes)> {
    names.iter().map(|n| (n.to_string(), Bytes::from(format!("{member}:{n}")))).collect()
}

/// A member to add: its id, optional instance id, and timeouts.
struct Joiner<'a> {
    id: &'a str,
    instance: Option<&'a str>,
    protocols: &'a [&'a str],
    rebalance_ms: i32,
    session_ms: i32,
}

impl<'a> Joiner<'a> {
    fn new(id: &'a str) -> Self {
        Joiner { id, instance: None, protocols: &["range"], rebalance_ms: REBALANCE_MS, session_ms: SESSION_MS }
    }

    fn instance(mut self, i: &'a str) -> Self {
        self.instance = Some(i);
        self
    }

    fn protocols(mut self, p: &'a [&'a str]) -> Self {
        self.protocols = p;
        self
    }

    fn rebalance_ms(mut self, v: i32) -> Self {
        self.rebalance_ms = v;
        self
    }

    fn session_ms(mut self, v: i32) -> Self {
        self.session_ms = v;
        self
    }

    /// A new member's JoinGroup (with its id already allocated).
    fn add(&self, g: &mut ClassicGroup, t: &GroupTimeouts, now: Instant) -> (Receiver<JoinResult>, Vec<Effect>) {
        let (tx, rx) = oneshot::channel();
        let effects = g.add_member(
            self.id.to_string(),
            self.instance.map(str::to_string),
            format!("client-{}", self.id),
            "/127.0.0.1".to_string(),
            self.rebalance_ms,
            self.session_ms,
            "consumer".to_string(),
            protocols(self.id, self.protocols),
            tx,
            t,
            now,
        );
        (rx, effects)
    }

    /// A known member's JoinGroup (Kafka's updateMemberAndRebalance).
    fn rejoin(&self, g: &mut ClassicGroup, t: &GroupTimeouts, now: Instant) -> (Receiver<JoinResult>, Vec<Effect>) {
        let (tx, rx) = oneshot::channel();
        let effects = g.update_member_and_rebalance(
            self.id,
            protocols(self.id, self.protocols),
            self.rebalance_ms,
            self.session_ms,
            tx,
            t,
            now,
        );
        (rx, effects)
    }
}

/// The answer on `rx`, if one was sent.
fn answered<T>(rx: &mut Receiver<T>) -> Option<T> {
    match rx.try_recv() {
        Ok(v) => Some(v),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Closed) => panic!("response channel dropped without an answer"),
    }
}

fn expect_answer<T>(rx: &mut Receiver<T>, what: &str) -> T {
    answered(rx).unwrap_or_else(|| panic!("{what}: no answer yet"))
}

fn sync(g: &mut ClassicGroup, id: &str) -> Receiver<SyncResult> {
    let (tx, rx) = oneshot::channel();
    g.set_awaiting_sync(id, tx);
    rx
}

fn assignment_for(ids: &[&str]) -> HashMap<String, Bytes> {
    ids.iter().map(|id| (id.to_string(), Bytes::from(format!("assignment-of-{id}")))).collect()
}

fn member_ids(g: &ClassicGroup) -> Vec<String> {
    g.members().map(|m| m.id.clone()).collect()
}

/// Runs the timers at `now` until the initial join phase of a group whose
/// delay is 0 has ended. Members that joined after the first one set
/// `new_member_added`, which extends the initial delay once more (by
/// min(delay, remaining) = 0), so that takes two ticks.
fn end_initial_delay(g: &mut ClassicGroup, t: &GroupTimeouts, now: Instant) {
    assert_eq!(t.initial_rebalance_delay_ms, 0);
    for _ in 0..2 {
        g.tick(t, now);
        if !g.is(GroupState::PreparingRebalance) {
            return;
        }
    }
    panic!("join phase did not end: {:?}", g.state());
}

/// Builds a Stable group of `joiners` (generation 1, first joiner leads),
/// with no initial delay. Returns the time the group became stable.
fn stable_group(g: &mut ClassicGroup, t: &GroupTimeouts, joiners: &[Joiner], now: Instant) -> Instant {
    let mut rxs: Vec<_> = joiners.iter().map(|j| j.add(g, t, now).0).collect();
    end_initial_delay(g, t, now);
    assert!(g.is(GroupState::CompletingRebalance), "{:?}", g.state());
    let results: Vec<JoinResult> = rxs.iter_mut().map(|rx| expect_answer(rx, "join")).collect();
    assert!(results.iter().all(|r| r.error_code() == NONE));
    let leader = g.leader().expect("leader").to_string();
    let mut syncs: Vec<_> = joiners.iter().map(|j| sync(g, j.id)).collect();
    let ids: Vec<&str> = joiners.iter().map(|j| j.id).collect();
    assert_eq!(leader, ids[0]);
    g.complete_sync(&assignment_for(&ids), now);
    assert!(g.is(GroupState::Stable));
    for s in syncs.iter_mut() {
        assert_eq!(expect_answer(s, "sync").error_code(), NONE);
    }
    now
}

// ---------------------------------------------------------------------------
// The happy path
// ---------------------------------------------------------------------------

#[test]
fn empty_to_preparing_to_completing_to_stable() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    assert!(g.is(GroupState::Empty));
    assert_eq!(g.generation, 0);
    assert_eq!(g.state().name(), "Empty");

    let (mut rx, effects) = Joiner::new("a").add(&mut g, &t, t0);
    assert!(effects.is_empty());
    assert!(g.is(GroupState::PreparingRebalance));
    assert_eq!(g.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(g.leader(), Some("a"));
    // Even with no delay the join phase of an empty group ends on the timer
    // (Kafka's InitialDelayedJoin never completes early).
    assert!(answered(&mut rx).is_none());

    g.tick(&t, t0);
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(g.generation, 1);
    assert_eq!(g.protocol_name.as_deref(), Some("range"));
    let r = expect_answer(&mut rx, "join of a");
    assert_eq!(r.error_code(), NONE);
    assert_eq!(r.member_id, "a");
    assert_eq!(r.generation, 1);
    assert_eq!(r.leader, "a");
    assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert!(!r.skip_assignment);
    assert_eq!(r.members, vec![("a".to_string(), None, Bytes::from("a:range"))]);

    let mut s = sync(&mut g, "a");
    assert!(answered(&mut s).is_none());
    g.complete_sync(&assignment_for(&["a"]), t0 + ms(5));
    assert!(g.is(GroupState::Stable));
    let r = expect_answer(&mut s, "sync of a");
    assert_eq!(r.error_code(), NONE);
    assert_eq!(r.assignment, Bytes::from("assignment-of-a"));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(g.member_assignment("a"), Bytes::from("assignment-of-a"));

    // A follower rejoining a stable group with the same metadata gets the
    // current generation (no rebalance): the coordinator answers it from
    // current_join_result.
    let cur = g.current_join_result("a", false, false);
    assert_eq!((cur.generation, cur.leader.as_str()), (1, "a"));
    assert!(cur.members.is_empty());
}

#[test]
fn members_without_sync_response_get_assignment_missing_from_leader_as_empty() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    let mut sb = sync(&mut g, "b");
    let mut sa = sync(&mut g, "a");
    // The leader assigns only itself.
    g.complete_sync(&assignment_for(&["a"]), t0);
    assert_eq!(expect_answer(&mut sa, "a").assignment, Bytes::from("assignment-of-a"));
    let b = expect_answer(&mut sb, "b");
    assert_eq!(b.error_code(), NONE);
    assert!(b.assignment.is_empty());
}

// ---------------------------------------------------------------------------
// group.initial.rebalance.delay.ms
// ---------------------------------------------------------------------------

#[test]
fn initial_delay_holds_an_empty_group_open_even_when_everyone_joined() {
    let t = timeouts(3_000);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t0 + ms(2_999));
    assert!(g.is(GroupState::PreparingRebalance));
    assert!(answered(&mut ra).is_none());
    g.tick(&t, t0 + ms(3_000));
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(expect_answer(&mut ra, "a").generation, 1);
}

#[test]
fn zero_initial_delay_batches_members_that_joined_before_the_timer_ran() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").add(&mut g, &t, t0).0;
    // b joined during the (zero) delay: one zero-length extension.
    g.tick(&t, t0);
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t0);
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(expect_answer(&mut ra, "a").generation, 1);
    assert_eq!(expect_answer(&mut rb, "b").generation, 1);
}

#[test]
fn initial_delay_is_extended_when_a_member_joins_during_it() {
    // delay 3000, rebalance timeout 10000: remaining after the first delay
    // is 7000.
    let t = timeouts(3_000);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").rebalance_ms(10_000).add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").rebalance_ms(10_000).add(&mut g, &t, t0 + ms(1_000)).0;
    // First delay ends at 3000: b joined meanwhile, so it is extended by
    // min(delay, remaining) = 3000, to 6000.
    g.tick(&t, t0 + ms(3_000));
    assert!(g.is(GroupState::PreparingRebalance), "extended at 3000");
    g.tick(&t, t0 + ms(5_999));
    assert!(g.is(GroupState::PreparingRebalance));
    assert!(answered(&mut ra).is_none() && answered(&mut rb).is_none());
    // Nobody new since: completes at 6000.
    g.tick(&t, t0 + ms(6_000));
    assert!(g.is(GroupState::CompletingRebalance));
    let a = expect_answer(&mut ra, "a");
    let b = expect_answer(&mut rb, "b");
    assert_eq!((a.generation, b.generation), (1, 1));
    assert_eq!(a.leader, "a");
    assert_eq!(a.members.len(), 2);
    assert!(b.members.is_empty());
}

#[test]
fn initial_delay_extensions_are_capped_by_the_rebalance_timeout() {
    // delay 3000, rebalance timeout 5000: at most 5000 in total.
    let t = timeouts(3_000);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut rxs = vec![Joiner::new("a").rebalance_ms(5_000).add(&mut g, &t, t0).0];
    rxs.push(Joiner::new("b").rebalance_ms(5_000).add(&mut g, &t, t0 + ms(1_000)).0);
    g.tick(&t, t0 + ms(3_000));
    assert!(g.is(GroupState::PreparingRebalance));
    // Another member during the (shortened) extension: no further delay.
    rxs.push(Joiner::new("c").rebalance_ms(5_000).add(&mut g, &t, t0 + ms(4_000)).0);
    g.tick(&t, t0 + ms(4_999));
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t0 + ms(5_000));
    assert!(g.is(GroupState::CompletingRebalance), "capped at the rebalance timeout");
    for rx in rxs.iter_mut() {
        assert_eq!(expect_answer(rx, "join").error_code(), NONE);
    }
    assert_eq!(g.size(), 3);
}

#[test]
fn initial_delay_applies_only_to_an_empty_group() {
    let t = timeouts(3_000);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    Joiner::new("a").add(&mut g, &t, t0);
    g.tick(&t, t0 + ms(3_000));
    let mut sa = sync(&mut g, "a");
    g.complete_sync(&assignment_for(&["a"]), t0 + ms(3_000));
    expect_answer(&mut sa, "sync");
    // A rejoin of a stable one-member group completes at once.
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(4_000));
    assert_eq!(expect_answer(&mut ra, "rejoin").generation, 2);
}

// ---------------------------------------------------------------------------
// Join phase
// ---------------------------------------------------------------------------

#[test]
fn join_completes_as_soon_as_every_member_has_rejoined() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a"), Joiner::new("b")], t0);
    let t1 = t0 + ms(1_000);
    // A third member joins a stable group: a rebalance starts (no initial
    // delay: the group is not empty).
    let (mut rc, _) = Joiner::new("c").add(&mut g, &t, t1);
    assert!(g.is(GroupState::PreparingRebalance));
    assert!(answered(&mut rc).is_none());
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t1 + ms(10));
    assert!(g.is(GroupState::PreparingRebalance), "b has not rejoined");
    assert!(answered(&mut ra).is_none());
    // The last member rejoins: the join phase completes in this very call
    // (Kafka's handleJoinGroup checkAndComplete), not at the rebalance
    // timeout.
    let (mut rb, _) = Joiner::new("b").rejoin(&mut g, &t, t1 + ms(20));
    assert!(
        g.is(GroupState::CompletingRebalance),
        "join phase must complete when all members rejoined, state {:?}",
        g.state()
    );
    assert_eq!(g.generation, 2);
    for rx in [&mut ra, &mut rb, &mut rc] {
        let r = expect_answer(rx, "join");
        assert_eq!((r.error_code(), r.generation, r.leader.as_str()), (NONE, 2, "a"));
    }
}

#[test]
fn a_new_member_joining_a_rebalance_completes_it_when_it_is_the_last() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a")], t0);
    // The leader rejoins (forces a rebalance), then a new member arrives.
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(100));
    // One member, already rejoined: complete at once.
    assert!(g.is(GroupState::CompletingRebalance));
    expect_answer(&mut ra, "a");
    let mut sa = sync(&mut g, "a");
    g.complete_sync(&assignment_for(&["a"]), t0 + ms(100));
    expect_answer(&mut sa, "a");
    // Now: b is told MEMBER_ID_REQUIRED (pending), a rejoins, b joins with
    // its id last.
    g.add_pending_member("b", t0 + ms(10_000));
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(200));
    assert!(g.is(GroupState::PreparingRebalance), "waits for the pending member");
    let (mut rb, _) = Joiner::new("b").add(&mut g, &t, t0 + ms(300));
    assert!(!g.is_pending_member("b"));
    assert!(g.is(GroupState::CompletingRebalance), "the last expected member joined, state {:?}", g.state());
    assert_eq!(expect_answer(&mut ra, "a").generation, 3);
    assert_eq!(expect_answer(&mut rb, "b").generation, 3);
}

#[test]
fn pending_member_that_never_joins_is_dropped_and_the_rest_proceed() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a")], t0);
    g.add_pending_member("p", t0 + ms(6_000));
    assert!(g.is_pending_member("p"));
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(10));
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t0 + ms(5_999));
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t0 + ms(6_000));
    assert!(!g.is_pending_member("p"));
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(expect_answer(&mut ra, "a").generation, 2);
}

#[test]
fn leader_receives_every_members_metadata_and_followers_none() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").instance("static-b").add(&mut g, &t, t0).0;
    let mut rc = Joiner::new("c").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    let a = expect_answer(&mut ra, "a");
    let b = expect_answer(&mut rb, "b");
    let c = expect_answer(&mut rc, "c");
    assert_eq!(a.leader, "a");
    assert_eq!(b.leader, "a");
    assert_eq!(c.leader, "a");
    let mut members = a.members.clone();
    members.sort();
    assert_eq!(
        members,
        vec![
            ("a".to_string(), None, Bytes::from("a:range")),
            ("b".to_string(), Some("static-b".to_string()), Bytes::from("b:range")),
            ("c".to_string(), None, Bytes::from("c:range")),
        ]
    );
    assert!(b.members.is_empty());
    assert!(c.members.is_empty());
    for r in [&a, &b, &c] {
        assert_eq!(r.generation, 1);
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
    }
}

#[test]
fn a_new_leader_is_chosen_among_joined_members_when_the_leader_does_not_rejoin() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a").session_ms(60_000), Joiner::new("b")], t0);
    let t1 = t0 + ms(1_000);
    // b rejoins with new metadata (forces a rebalance); the leader a never
    // rejoins and is dropped at the rebalance timeout.
    let (mut rb, _) = Joiner::new("b").protocols(&["range", "roundrobin"]).rejoin(&mut g, &t, t1);
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t1 + ms(REBALANCE_MS as u64 - 1));
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t1 + ms(REBALANCE_MS as u64));
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(member_ids(&g), vec!["b".to_string()]);
    let b = expect_answer(&mut rb, "b");
    assert_eq!(b.leader, "b");
    assert_eq!(b.members.len(), 1);
}

// ---------------------------------------------------------------------------
// Protocol selection
// ---------------------------------------------------------------------------

fn selected(joiners: &[Joiner]) -> String {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut rxs: Vec<_> = joiners.iter().map(|j| j.add(&mut g, &t, t0).0).collect();
    end_initial_delay(&mut g, &t, t0);
    let name = g.protocol_name.clone().expect("a protocol");
    for rx in rxs.iter_mut() {
        assert_eq!(expect_answer(rx, "join").protocol_name.as_deref(), Some(name.as_str()));
    }
    // The leader got each member's metadata for the chosen protocol.
    name
}

#[test]
fn protocol_is_chosen_by_vote_among_protocols_all_members_support() {
    // Majority preference wins.
    assert_eq!(
        selected(&[
            Joiner::new("a").protocols(&["roundrobin", "range"]),
            Joiner::new("b").protocols(&["roundrobin", "range"]),
            Joiner::new("c").protocols(&["range", "roundrobin"]),
        ]),
        "roundrobin"
    );
    // A protocol not every member supports cannot win, however popular:
    // c only knows range, so everybody votes range.
    assert_eq!(
        selected(&[
            Joiner::new("a").protocols(&["cooperative-sticky", "range"]),
            Joiner::new("b").protocols(&["cooperative-sticky", "range"]),
            Joiner::new("c").protocols(&["range"]),
        ]),
        "range"
    );
    // Members vote for their most preferred candidate.
    assert_eq!(
        selected(&[
            Joiner::new("a").protocols(&["x", "roundrobin", "range"]),
            Joiner::new("b").protocols(&["roundrobin", "range"]),
            Joiner::new("c").protocols(&["y", "roundrobin", "range"]),
        ]),
        "roundrobin"
    );
}

#[test]
fn leader_gets_metadata_of_the_selected_protocol() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").protocols(&["roundrobin", "range"]).add(&mut g, &t, t0).0;
    let _rb = Joiner::new("b").protocols(&["range"]).add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    let a = expect_answer(&mut ra, "a");
    assert_eq!(a.protocol_name.as_deref(), Some("range"));
    let mut m: Vec<_> = a.members.iter().map(|(id, _, md)| (id.clone(), md.clone())).collect();
    m.sort();
    assert_eq!(m, vec![("a".to_string(), Bytes::from("a:range")), ("b".to_string(), Bytes::from("b:range")),]);
}

#[test]
fn supports_protocols_checks_type_and_common_protocols() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    // An empty group accepts any non-empty type and protocol list.
    assert!(g.supports_protocols("consumer", &protocols("x", &["range"])));
    assert!(!g.supports_protocols("", &protocols("x", &["range"])));
    assert!(!g.supports_protocols("consumer", &[]));
    stable_group(
        &mut g,
        &t,
        &[Joiner::new("a").protocols(&["range", "roundrobin"]), Joiner::new("b").protocols(&["roundrobin", "range"])],
        t0,
    );
    assert!(g.supports_protocols("consumer", &protocols("c", &["roundrobin"])));
    assert!(g.supports_protocols("consumer", &protocols("c", &["sticky", "range"])));
    assert!(!g.supports_protocols("consumer", &protocols("c", &["sticky"])));
    assert!(!g.supports_protocols("connect", &protocols("c", &["range"])));
}

// ---------------------------------------------------------------------------
// Members that disappear
// ---------------------------------------------------------------------------

#[test]
fn member_not_rejoining_within_the_rebalance_timeout_is_removed() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    // Long sessions: only the rebalance timeout can remove b.
    let joiners = [
        Joiner::new("a").rebalance_ms(5_000).session_ms(60_000),
        Joiner::new("b").rebalance_ms(5_000).session_ms(60_000),
        Joiner::new("c").rebalance_ms(5_000).session_ms(60_000),
    ];
    stable_group(&mut g, &t, &joiners, t0);
    let t1 = t0 + ms(1_000);
    let (mut ra, _) = joiners[0].rejoin(&mut g, &t, t1);
    let (mut rc, _) = joiners[2].rejoin(&mut g, &t, t1 + ms(100));
    g.tick(&t, t1 + ms(4_999));
    assert!(g.is(GroupState::PreparingRebalance));
    let effects = g.tick(&t, t1 + ms(5_000));
    assert!(effects.is_empty());
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(member_ids(&g), vec!["a".to_string(), "c".to_string()]);
    let a = expect_answer(&mut ra, "a");
    let c = expect_answer(&mut rc, "c");
    assert_eq!((a.generation, c.generation), (2, 2));
    assert_eq!(a.members.len(), 2);
    // b's stale generation is no longer a member.
    assert!(!g.has_member("b"));
}

#[test]
fn static_member_not_rejoining_is_kept_through_the_rebalance() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let joiners = [
        Joiner::new("a").rebalance_ms(5_000).session_ms(60_000),
        Joiner::new("s").instance("inst-s").rebalance_ms(5_000).session_ms(60_000),
    ];
    stable_group(&mut g, &t, &joiners, t0);
    let (mut ra, _) = joiners[0].rejoin(&mut g, &t, t0 + ms(10));
    g.tick(&t, t0 + ms(5_010));
    assert!(g.is(GroupState::CompletingRebalance));
    assert!(g.has_member("s"), "static members survive a missed rejoin");
    assert_eq!(expect_answer(&mut ra, "a").members.len(), 2);
}

#[test]
fn session_expiry_removes_the_member_and_triggers_a_rebalance() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a"), Joiner::new("b")], t0);
    // a keeps heartbeating, b stops.
    g.heartbeat("a", t0 + ms(5_000));
    g.tick(&t, t0 + ms(SESSION_MS as u64 - 1));
    assert!(g.is(GroupState::Stable));
    assert_eq!(g.size(), 2);
    g.tick(&t, t0 + ms(SESSION_MS as u64));
    assert!(!g.has_member("b"));
    assert!(g.is(GroupState::PreparingRebalance));
    assert_eq!(g.rebalance_timeout_ms(), REBALANCE_MS as u64);
    // a learns of the rebalance (heartbeat answers REBALANCE_IN_PROGRESS)
    // and rejoins: as the only member, the join completes at once.
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(SESSION_MS as u64 + 100));
    let a = expect_answer(&mut ra, "a");
    assert_eq!((a.generation, a.leader.as_str()), (2, "a"));
}

#[test]
fn the_last_member_expiring_leaves_an_empty_group_and_stores_it() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a")], t0);
    let effects = g.tick(&t, t0 + ms(SESSION_MS as u64));
    assert!(g.is(GroupState::Empty));
    assert_eq!(g.size(), 0);
    assert_eq!(g.generation, 2);
    assert!(g.protocol_name.is_none());
    assert_eq!(effects, vec![Effect::StoreGroup]);
    let snap = g.snapshot(None);
    assert!(snap.members.is_empty());
    assert_eq!(snap.generation, 2);
}

#[test]
fn leave_during_rebalance_completes_the_join_for_the_others() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a"), Joiner::new("b")], t0);
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(10));
    assert!(g.is(GroupState::PreparingRebalance));
    // b leaves instead of rejoining.
    g.remove_member("b", &t, t0 + ms(20));
    assert!(g.is(GroupState::CompletingRebalance));
    assert_eq!(expect_answer(&mut ra, "a").generation, 2);
}

#[test]
fn a_member_leaving_while_awaiting_join_is_answered_unknown_member() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a"), Joiner::new("b")], t0);
    let (mut rb, _) = Joiner::new("b").protocols(&["range", "roundrobin"]).rejoin(&mut g, &t, t0 + ms(10));
    g.remove_member("b", &t, t0 + ms(20));
    assert_eq!(expect_answer(&mut rb, "b").error_code(), UNKNOWN_MEMBER_ID);
}

#[test]
fn members_owed_a_join_or_sync_response_are_not_expired() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let joiners = [Joiner::new("a").rebalance_ms(60_000), Joiner::new("b").rebalance_ms(60_000)];
    stable_group(&mut g, &t, &joiners, t0);
    // a rejoins at 5000 and waits (b has not rejoined); b heartbeats.
    let (mut ra, _) = joiners[0].rejoin(&mut g, &t, t0 + ms(5_000));
    g.heartbeat("b", t0 + ms(5_000));
    g.heartbeat("b", t0 + ms(14_000));
    // a's session deadline (10000) passes while it awaits its join
    // response: it stays.
    g.tick(&t, t0 + ms(20_000));
    assert!(g.has_member("a"), "a member awaiting join is not expired");
    assert!(g.is(GroupState::PreparingRebalance));
    assert!(answered(&mut ra).is_none());
    let t1 = t0 + ms(21_000);
    let (mut rb, _) = joiners[1].rejoin(&mut g, &t, t1);
    assert!(g.is(GroupState::CompletingRebalance));
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    // Both send SyncGroup; the leader's assignment is being stored.
    let mut sa = sync(&mut g, "a");
    let mut sb = sync(&mut g, "b");
    // Their sessions (10000 from t1) pass while they await sync: kept.
    g.tick(&t, t1 + ms(15_000));
    assert_eq!(g.size(), 2, "members awaiting sync are not expired");
    assert!(g.is(GroupState::CompletingRebalance));
    assert!(answered(&mut sa).is_none() && answered(&mut sb).is_none());
    // Once answered, the session clock runs again from the answer.
    let t2 = t1 + ms(16_000);
    g.complete_sync(&assignment_for(&["a", "b"]), t2);
    expect_answer(&mut sa, "a");
    expect_answer(&mut sb, "b");
    g.tick(&t, t2 + ms(SESSION_MS as u64 - 1));
    assert_eq!(g.size(), 2);
    g.heartbeat("a", t2 + ms(SESSION_MS as u64 - 1));
    g.tick(&t, t2 + ms(SESSION_MS as u64));
    assert_eq!(member_ids(&g), vec!["a".to_string()]);
}

#[test]
fn new_members_awaiting_join_expire_after_the_new_member_join_timeout() {
    let t = GroupTimeouts { initial_rebalance_delay_ms: 0, new_member_join_timeout_ms: 2_000 };
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a").session_ms(60_000)], t0);
    // c joins; a never rejoins (long session, long rebalance timeout).
    let (mut rc, _) = Joiner::new("c").add(&mut g, &t, t0 + ms(1_000));
    assert!(g.is(GroupState::PreparingRebalance));
    g.tick(&t, t0 + ms(2_999));
    assert!(g.has_member("c"));
    g.tick(&t, t0 + ms(3_000));
    assert!(!g.has_member("c"), "a new member is expired after the new member join timeout");
    let c = expect_answer(&mut rc, "c");
    assert_eq!(c.error_code(), UNKNOWN_MEMBER_ID);
    assert!(g.has_member("a"));
}

#[test]
fn sync_deadline_removes_members_that_never_sent_sync_group() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    // Rebalance timeout 5000 < session 10000: only the sync deadline acts.
    let mut ra = Joiner::new("a").rebalance_ms(5_000).add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").rebalance_ms(5_000).add(&mut g, &t, t0).0;
    let mut rc = Joiner::new("c").rebalance_ms(5_000).add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    for rx in [&mut ra, &mut rb, &mut rc] {
        expect_answer(rx, "join");
    }
    // b sends SyncGroup and waits; the leader a never does, nor does c.
    let mut sb = sync(&mut g, "b");
    g.tick(&t, t0 + ms(4_999));
    assert_eq!(g.size(), 3);
    g.tick(&t, t0 + ms(5_000));
    assert_eq!(member_ids(&g), vec!["b".to_string()]);
    assert!(g.is(GroupState::PreparingRebalance));
    // The owed sync response tells b to rejoin.
    assert_eq!(expect_answer(&mut sb, "b").error_code(), REBALANCE_IN_PROGRESS);
    assert_eq!(g.leader(), Some("b"));
}

#[test]
fn sync_deadline_in_a_stable_group_removes_the_member_that_did_not_sync() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").rebalance_ms(5_000).add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").rebalance_ms(5_000).add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    let mut sa = sync(&mut g, "a");
    g.complete_sync(&assignment_for(&["a", "b"]), t0 + ms(10));
    assert!(g.is(GroupState::Stable));
    expect_answer(&mut sa, "a");
    g.heartbeat("a", t0 + ms(4_000));
    // b never sent SyncGroup.
    g.tick(&t, t0 + ms(5_000));
    assert!(!g.has_member("b"));
    assert!(g.is(GroupState::PreparingRebalance));
    // All synced in the next generation: no removal at that deadline.
    let t1 = t0 + ms(5_100);
    let (mut ra, _) = Joiner::new("a").rebalance_ms(5_000).rejoin(&mut g, &t, t1);
    assert_eq!(expect_answer(&mut ra, "a").generation, 2);
    let mut sa = sync(&mut g, "a");
    g.complete_sync(&assignment_for(&["a"]), t1);
    expect_answer(&mut sa, "a");
    g.heartbeat("a", t1 + ms(4_000));
    g.tick(&t, t1 + ms(5_000));
    assert!(g.is(GroupState::Stable));
    assert!(g.has_member("a"));
}

#[test]
fn a_rebalance_while_completing_answers_owed_syncs_rebalance_in_progress() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    let mut sb = sync(&mut g, "b");
    // c joins before the leader's SyncGroup.
    let (_rc, _) = Joiner::new("c").add(&mut g, &t, t0 + ms(10));
    assert!(g.is(GroupState::PreparingRebalance));
    assert_eq!(expect_answer(&mut sb, "b").error_code(), REBALANCE_IN_PROGRESS);
}

#[test]
fn fail_sync_answers_the_error_and_rebalances() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    let mut sa = sync(&mut g, "a");
    let mut sb = sync(&mut g, "b");
    g.fail_sync(GroupError::NotCoordinator, &t, t0 + ms(10));
    assert_eq!(expect_answer(&mut sa, "a").error_code(), NOT_COORDINATOR);
    assert_eq!(expect_answer(&mut sb, "b").error_code(), NOT_COORDINATOR);
    assert!(g.is(GroupState::PreparingRebalance));
    assert!(g.member_assignment("a").is_empty());
}

// ---------------------------------------------------------------------------
// Static membership
// ---------------------------------------------------------------------------

#[test]
fn static_member_replacement_fences_the_old_member_id() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("old-a").instance("inst-a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    assert_eq!(g.leader(), Some("old-a"));
    // The old instance is waiting for its assignment when its replacement
    // (same group.instance.id, unknown member id) arrives.
    let mut sa = sync(&mut g, "old-a");
    g.replace_static_member("inst-a", "old-a", "new-a");
    assert_eq!(expect_answer(&mut sa, "old sync").error_code(), FENCED_INSTANCE_ID);
    assert!(!g.has_member("old-a"));
    assert!(g.has_member("new-a"));
    assert_eq!(g.static_member_id("inst-a"), Some("new-a"));
    assert_eq!(g.leader(), Some("new-a"), "leadership follows the instance");
    let m = g.members().find(|m| m.id == "new-a").unwrap();
    assert_eq!(m.instance_id.as_deref(), Some("inst-a"));
    assert_eq!(m.client_id, "client-old-a");

    // Same with a pending join response.
    let mut sb = sync(&mut g, "b");
    let (mut rj, _) = Joiner::new("b").protocols(&["range", "roundrobin"]).rejoin(&mut g, &t, t0 + ms(10));
    assert_eq!(expect_answer(&mut sb, "b sync").error_code(), REBALANCE_IN_PROGRESS);
    let (mut rnew, _) = Joiner::new("new-a").rejoin(&mut g, &t, t0 + ms(20));
    // Both rejoined: generation 2.
    assert!(g.is(GroupState::CompletingRebalance));
    expect_answer(&mut rj, "b");
    expect_answer(&mut rnew, "new-a");
    // Third incarnation while the second awaits join in a new rebalance.
    let (mut rnew, _) = Joiner::new("new-a").protocols(&["range", "x"]).rejoin(&mut g, &t, t0 + ms(30));
    assert!(g.is(GroupState::PreparingRebalance));
    g.replace_static_member("inst-a", "new-a", "newer-a");
    assert_eq!(expect_answer(&mut rnew, "fenced join").error_code(), FENCED_INSTANCE_ID);
    assert_eq!(g.static_member_id("inst-a"), Some("newer-a"));
}

#[test]
fn static_member_replacement_keeps_its_assignment() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(&mut g, &t, &[Joiner::new("a"), Joiner::new("s1").instance("inst")], t0);
    let generation = g.generation;
    g.replace_static_member("inst", "s1", "s2");
    assert!(g.is(GroupState::Stable));
    assert_eq!(g.generation, generation);
    assert_eq!(g.member_assignment("s2"), Bytes::from("assignment-of-s1"));
    let snap = g.snapshot(None);
    assert!(snap.members.iter().any(|m| m.member_id == "s2" && m.instance_id.as_deref() == Some("inst")));
    assert!(!snap.members.iter().any(|m| m.member_id == "s1"));
}

// ---------------------------------------------------------------------------
// Dead groups, persistence
// ---------------------------------------------------------------------------

#[test]
fn mark_dead_answers_everyone_owed_a_response() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    let mut rb = Joiner::new("b").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    expect_answer(&mut rb, "b");
    let mut sa = sync(&mut g, "a");
    // c is waiting for a join response of the next rebalance.
    let (mut rc, _) = Joiner::new("c").add(&mut g, &t, t0 + ms(10));
    assert_eq!(expect_answer(&mut sa, "a").error_code(), REBALANCE_IN_PROGRESS);
    let (mut ra, _) = Joiner::new("a").rejoin(&mut g, &t, t0 + ms(20));
    assert!(g.is(GroupState::PreparingRebalance));
    g.mark_dead(GroupError::NotCoordinator);
    assert!(g.is(GroupState::Dead));
    assert_eq!(g.state().name(), "Dead");
    let c = expect_answer(&mut rc, "c");
    assert_eq!(c.error_code(), NOT_COORDINATOR);
    assert_eq!(c.generation, -1);
    assert_eq!(expect_answer(&mut ra, "a").error_code(), NOT_COORDINATOR);

    // Sync waiters too.
    let mut g = ClassicGroup::new("g2");
    let mut ra = Joiner::new("a").add(&mut g, &t, t0).0;
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut ra, "a");
    let mut sa = sync(&mut g, "a");
    g.mark_dead(GroupError::NotCoordinator);
    assert_eq!(expect_answer(&mut sa, "a").error_code(), NOT_COORDINATOR);
    // A dead group's timers do nothing.
    assert!(g.tick(&t, t0 + ms(1_000_000)).is_empty());
    assert!(g.is(GroupState::Dead));
}

#[test]
fn snapshot_and_load_round_trip() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    stable_group(
        &mut g,
        &t,
        &[
            Joiner::new("a").protocols(&["roundrobin", "range"]),
            Joiner::new("b").instance("inst-b").protocols(&["roundrobin"]).session_ms(20_000),
        ],
        t0,
    );
    let snap = g.snapshot(None);
    assert_eq!(snap.protocol_type, "consumer");
    assert_eq!(snap.generation, 1);
    assert_eq!(snap.protocol.as_deref(), Some("roundrobin"));
    assert_eq!(snap.leader.as_deref(), Some("a"));
    assert_eq!(snap.members.len(), 2);
    let b = snap.members.iter().find(|m| m.member_id == "b").unwrap();
    assert_eq!(b.instance_id.as_deref(), Some("inst-b"));
    assert_eq!(b.client_id, "client-b");
    assert_eq!(b.client_host, "/127.0.0.1");
    assert_eq!(b.session_timeout_ms, 20_000);
    assert_eq!(b.rebalance_timeout_ms, REBALANCE_MS);
    assert_eq!(b.subscription, Bytes::from("b:roundrobin"));
    assert_eq!(b.assignment, Bytes::from("assignment-of-b"));

    // A proposed assignment overrides the current one.
    let proposed = HashMap::from([("a".to_string(), Bytes::from("new-a"))]);
    let s2 = g.snapshot(Some(&proposed));
    let pa = s2.members.iter().find(|m| m.member_id == "a").unwrap();
    let pb = s2.members.iter().find(|m| m.member_id == "b").unwrap();
    assert_eq!(pa.assignment, Bytes::from("new-a"));
    assert!(pb.assignment.is_empty());

    // Load into a fresh group (as a new coordinator would).
    let t1 = t0 + ms(100_000);
    let mut loaded = ClassicGroup::new("g");
    loaded.load(
        snap.protocol_type.clone(),
        snap.generation,
        snap.protocol.clone(),
        snap.leader.clone(),
        snap.state_timestamp,
        snap.members.clone(),
        t1,
    );
    assert!(loaded.is(GroupState::Stable));
    assert_eq!(loaded.snapshot(None), snap);
    assert_eq!(loaded.static_member_id("inst-b"), Some("b"));
    assert_eq!(loaded.member_assignment("a"), Bytes::from("assignment-of-a"));
    assert_eq!(loaded.state_timestamp, snap.state_timestamp);
    // The loaded members rejoin with the same metadata: no protocol
    // conflict, and the leader forces a new generation.
    assert!(loaded.supports_protocols("consumer", &protocols("a", &["roundrobin"])));
    assert!(loaded.member_matches("b", &protocols("b", &["roundrobin"])));
    // Loaded members must heartbeat within their session from the load.
    loaded.heartbeat("a", t1 + ms(15_000));
    loaded.heartbeat("b", t1 + ms(15_000));
    loaded.tick(&t, t1 + ms(SESSION_MS as u64 + 1));
    assert_eq!(loaded.size(), 2);
    loaded.heartbeat("a", t1 + ms(30_000));
    loaded.tick(&t, t1 + ms(15_000 + 20_000));
    assert_eq!(member_ids(&loaded), vec!["a".to_string()]);
    assert!(loaded.is(GroupState::PreparingRebalance));

    // An empty group round-trips as Empty.
    let empty = ClassicGroup::new("e").snapshot(None);
    let mut e = ClassicGroup::new("e");
    e.load(
        empty.protocol_type.clone(),
        empty.generation,
        empty.protocol.clone(),
        empty.leader.clone(),
        empty.state_timestamp,
        empty.members.clone(),
        t1,
    );
    assert!(e.is(GroupState::Empty));
    assert!(e.protocol_type.is_none());
    assert_eq!(e.generation, 0);
}

#[test]
fn subscribed_topics_come_from_the_consumer_protocol_metadata() {
    let t = timeouts(0);
    let t0 = Instant::now();
    let mut g = ClassicGroup::new("g");
    // ConsumerProtocolSubscription v0: topics ["orders", "audit"], no user data.
    fn subscription(topics: &[&str]) -> Bytes {
        let mut b = Vec::new();
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&(-1i32).to_be_bytes());
        Bytes::from(b)
    }
    let (tx, mut rx) = oneshot::channel();
    g.add_member(
        "a".into(),
        None,
        "c".into(),
        "/h".into(),
        REBALANCE_MS,
        SESSION_MS,
        "consumer".into(),
        vec![("range".into(), subscription(&["orders", "audit"]))],
        tx,
        &t,
        t0,
    );
    end_initial_delay(&mut g, &t, t0);
    expect_answer(&mut rx, "a");
    let topics = g.subscribed_topics().expect("decodable subscriptions");
    assert_eq!(topics, HashSet::from(["orders".to_string(), "audit".to_string()]));
    // Not a consumer group: unknown.
    let mut other = ClassicGroup::new("o");
    let (tx, _rx) = oneshot::channel();
    other.add_member(
        "x".into(),
        None,
        "c".into(),
        "/h".into(),
        1,
        1,
        "connect".into(),
        protocols("x", &["v1"]),
        tx,
        &t,
        t0,
    );
    assert!(other.subscribed_topics().is_none());
}
