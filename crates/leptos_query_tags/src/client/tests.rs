//! The tab runtime without a browser: a fake port records what a tab asks for, a bus carries
//! the messages between tabs, and a manual clock stands for time. No test sleeps.

use super::live::{ConnectionState, EventOrigin, QueryTagsClient};
use super::received::Received;
use super::tab::*;
use super::wire::{Hello, Incoming, Sse, TabMessage, Wire};
use crate::protocol::Cursor;
use crate::query::{Query, QueryClient};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

crate::tag_tree! {
    mod t {
        todos {
            list;
        }
        notes {
            list;
        }
    }
}

/// Messages posted by every tab, delivered when the test says so (like the real channel:
/// asynchronously, in order, never to the sender).
type Bus = Rc<RefCell<Vec<TabMessage>>>;

#[derive(Default)]
struct Fake {
    now: Rc<Cell<u64>>,
    random: f64,
    opened: Vec<(u32, String)>,
    relays: Vec<Option<Relay>>,
    closed: usize,
    probes: Vec<(u32, String)>,
    timers: HashMap<Timer, u64>,
    bus: Bus,
    steals: usize,
    switched: Vec<String>,
}

impl Port for Fake {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
    fn random(&mut self) -> f64 {
        self.random
    }
    fn open_stream(&mut self, generation: u32, url: &str, relay: Option<Relay>) {
        self.opened.push((generation, url.to_owned()));
        self.relays.push(relay);
    }
    fn close_stream(&mut self) {
        self.closed += 1;
    }
    fn probe(&mut self, generation: u32, url: &str) {
        self.probes.push((generation, url.to_owned()));
    }
    fn set_timer(&mut self, timer: Timer, after_ms: u64) {
        self.timers.insert(timer, self.now.get() + after_ms);
    }
    fn cancel_timer(&mut self, timer: Timer) {
        self.timers.remove(&timer);
    }
    fn post(&mut self, message: &TabMessage) {
        // Encoded and decoded, as the real channel carries them.
        let decoded = TabMessage::decode(&message.encode());
        assert_eq!(decoded.as_ref(), Some(message), "{:?}", message.encode());
        self.bus.borrow_mut().push(decoded.unwrap());
    }
    fn steal_lock(&mut self) {
        self.steals += 1;
    }
    fn switch_identity(&mut self, identity: String) {
        self.switched.push(identity);
    }
}

const EPOCH: u64 = 1_700_000_000_000;

fn c(seq: u64) -> Cursor {
    Cursor { epoch: EPOCH, seq }
}

/// A client with one cached todo list and one cached notes list (not in use: invalidating
/// them marks them, nothing fetches).
fn client() -> QueryTagsClient {
    let queries = QueryClient::new();
    let todos: Query<(), Vec<String>, String> =
        Query::new("todos", |_: ()| async { Ok(Vec::new()) }).tags(|_| vec![t::todos::list()]);
    let notes: Query<(), Vec<String>, String> =
        Query::new("notes", |_: ()| async { Ok(Vec::new()) }).tags(|_| vec![t::notes::list()]);
    queries.set_query_data(&todos, &(), vec!["a".into()]);
    queries.set_query_data(&notes, &(), vec!["n".into()]);
    QueryTagsClient::new("/api/query-tags", queries)
}

struct World {
    now: Rc<Cell<u64>>,
    bus: Bus,
}

impl World {
    fn new() -> Self {
        World {
            now: Rc::new(Cell::new(1_000_000)),
            bus: Rc::default(),
        }
    }

    fn tab(&self, id: u64, role: Role, render: Option<Cursor>) -> (Tab<Fake>, QueryTagsClient) {
        let client = client();
        let port = Fake {
            now: self.now.clone(),
            random: 0.5,
            bus: self.bus.clone(),
            ..Fake::default()
        };
        let mut tab = Tab::new(
            port,
            client.clone(),
            id,
            role,
            Some("ada".into()),
            Received::new(render),
            true,
        );
        tab.start();
        (tab, client)
    }

    fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }

    /// Delivers every posted message to every tab but its sender, until none is left.
    fn deliver(&self, tabs: &mut [&mut Tab<Fake>]) {
        loop {
            let messages = std::mem::take(&mut *self.bus.borrow_mut());
            if messages.is_empty() {
                return;
            }
            for message in messages {
                for tab in tabs.iter_mut() {
                    tab.message(message.clone());
                }
            }
        }
    }
}

fn hello(tab: &mut Tab<Fake>, generation: u32, cursor: Cursor, identity: &str) {
    let data = format!(
        r#"{{"protocol":1,"epoch":{},"cursor":"{cursor}","heartbeat_ms":15000,"identity":"{identity}"}}"#,
        cursor.epoch
    );
    tab.stream_opened(generation);
    tab.stream_event(
        generation,
        Sse {
            name: "hello",
            data: &data,
            last_event_id: "",
        },
    );
}

fn invalidate(tab: &mut Tab<Fake>, generation: u32, id: Cursor, tag: &str) {
    let data = format!(r#"{{"tags":[["{tag}"]],"scope":"global"}}"#);
    tab.stream_event(
        generation,
        Sse {
            name: "invalidate",
            data: &data,
            last_event_id: &id.to_string(),
        },
    );
}

fn ids(client: &QueryTagsClient) -> Vec<u64> {
    client
        .event_log()
        .iter()
        .filter_map(|e| e.id.map(|id| id.seq))
        .collect()
}

#[test]
fn a_solo_tab_opens_from_its_render_cursor_and_applies_each_event_once() {
    let world = World::new();
    let (mut tab, client) = world.tab(1, Role::Solo, Some(c(4)));
    assert_eq!(client.connection_state(), ConnectionState::Connecting);
    let (generation, url) = tab.port().opened[0].clone();
    assert_eq!(url, format!("/api/query-tags/events?cursor={}", c(4)));
    hello(&mut tab, generation, c(4), "ada");
    assert_eq!(client.connection_state(), ConnectionState::Open);
    assert!(client.is_leader(), "a solo tab is its own leader");

    invalidate(&mut tab, generation, c(6), "todos");
    invalidate(&mut tab, generation, c(6), "todos");
    invalidate(&mut tab, generation, c(3), "todos");
    assert_eq!(
        ids(&client),
        [6],
        "a duplicate and an event before the render are dropped"
    );
    let record = &client.event_log()[0];
    assert_eq!(record.tags, vec![t::todos::all()]);
    assert_eq!(
        record.matched.len(),
        1,
        "only the todo list matched: {record:?}"
    );
    assert!(record.matched[0].0.starts_with("todos"));
    assert_eq!(record.origin, EventOrigin::Stream);
    assert_eq!(client.connection_info().cursor, Some(c(6)));

    // Events of a stream this tab no longer listens to are ignored.
    invalidate(&mut tab, generation + 7, c(9), "notes");
    assert_eq!(ids(&client), [6]);
}

#[test]
fn a_broken_stream_reconnects_after_a_full_jitter_backoff_from_the_last_event() {
    let world = World::new();
    let (mut tab, client) = world.tab(1, Role::Solo, Some(c(0)));
    let (g1, _) = tab.port().opened[0].clone();
    hello(&mut tab, g1, c(0), "ada");
    invalidate(&mut tab, g1, c(2), "todos");

    tab.stream_error(g1);
    assert_eq!(
        tab.port().closed,
        1,
        "the client closes the EventSource itself"
    );
    let start = world.now.get();
    // random() is 0.5: half of the first ceiling (1 s).
    assert_eq!(
        client.connection_state(),
        ConnectionState::Reconnecting {
            attempt: 1,
            next_retry: start + 500
        }
    );
    assert_eq!(tab.port().timers[&Timer::Retry], start + 500);
    assert_eq!(tab.port().opened.len(), 1, "nothing before the timer");

    world.advance(500);
    tab.timer(Timer::Retry);
    let (g2, url) = tab.port().opened[1].clone();
    assert_eq!(url, format!("/api/query-tags/events?cursor={}", c(2)));
    // Still reconnecting until the hub says hello.
    assert_eq!(client.connection_state().as_str(), "reconnecting");

    // It fails again (after opening): the ceiling doubles.
    tab.stream_opened(g2);
    tab.stream_error(g2);
    assert_eq!(
        tab.port().timers[&Timer::Retry],
        world.now.get() + 1_000,
        "half of 2 s"
    );
    world.advance(1_000);
    tab.timer(Timer::Retry);
    let (g3, _) = tab.port().opened[2].clone();
    hello(&mut tab, g3, c(2), "ada");
    assert_eq!(client.connection_state(), ConnectionState::Open);
    assert_eq!(client.connection_info().reconnects, 1);
    // An old stream's late error changes nothing.
    tab.stream_error(g2);
    assert_eq!(client.connection_state(), ConnectionState::Open);
}

#[test]
fn the_backoff_grows_to_thirty_seconds_and_is_never_the_same_for_everyone() {
    let world = World::new();
    let (mut tab, _client) = world.tab(1, Role::Solo, None);
    tab.port().random = 0.999_999;
    let mut ceilings = Vec::new();
    for _ in 0..8 {
        let (g, _) = tab.port().opened.last().unwrap().clone();
        tab.stream_opened(g);
        tab.stream_error(g);
        let at = tab.port().timers[&Timer::Retry];
        ceilings.push((at - world.now.get() + 1) / 1_000 * 1_000);
        world.advance(at - world.now.get());
        tab.timer(Timer::Retry);
    }
    assert_eq!(
        ceilings,
        [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
    );
    // Full jitter: with random() near 0 the first retry is at once, not at a fixed delay.
    tab.port().random = 0.0;
    let (g, _) = tab.port().opened.last().unwrap().clone();
    tab.stream_opened(g);
    tab.stream_error(g);
    assert_eq!(tab.port().timers[&Timer::Retry], world.now.get());
}

#[test]
fn a_refusal_is_failed_with_the_hubs_reason_and_a_dead_server_is_reconnecting() {
    let world = World::new();
    let (mut tab, client) = world.tab(1, Role::Solo, None);
    let (g, url) = tab.port().opened[0].clone();
    // The browser reports an error before `open`: ask the hub why.
    tab.stream_error(g);
    assert_eq!(tab.port().probes, [(g, url)]);
    tab.probed(
        g,
        Probe::Answered {
            status: 403,
            reason: "forbidden_scope".into(),
        },
    );
    assert_eq!(
        client.connection_state(),
        ConnectionState::Failed {
            status: 403,
            reason: "forbidden_scope".into()
        }
    );
    assert_eq!(
        tab.port().timers[&Timer::Retry],
        world.now.get() + 30_000,
        "slow retries after a refusal (half of 60 s)"
    );
    // 429 with a body that is not the hub's (no reason).
    world.advance(30_000);
    tab.timer(Timer::Retry);
    let (g, _) = tab.port().opened[1].clone();
    tab.stream_error(g);
    tab.probed(
        g,
        Probe::Answered {
            status: 429,
            reason: String::new(),
        },
    );
    assert_eq!(
        client.connection_state(),
        ConnectionState::Failed {
            status: 429,
            reason: "http_429".into()
        }
    );
    // The server is down: reconnecting, not failed.
    world.advance(60_000);
    tab.timer(Timer::Retry);
    let (g, _) = tab.port().opened[2].clone();
    tab.stream_error(g);
    tab.probed(g, Probe::Unreachable);
    assert_eq!(client.connection_state().as_str(), "reconnecting");
    // 503 while shutting down: reconnecting too.
    world.advance(60_000);
    tab.timer(Timer::Retry);
    let (g, _) = tab.port().opened[3].clone();
    tab.stream_error(g);
    tab.probed(
        g,
        Probe::Answered {
            status: 503,
            reason: "shutting_down".into(),
        },
    );
    assert_eq!(client.connection_state().as_str(), "reconnecting");
}

#[test]
fn offline_closes_the_stream_and_online_reconnects_soon() {
    let world = World::new();
    let (mut tab, client) = world.tab(1, Role::Solo, Some(c(1)));
    let (g, _) = tab.port().opened[0].clone();
    hello(&mut tab, g, c(1), "ada");
    tab.offline();
    assert_eq!(client.connection_state(), ConnectionState::Offline);
    assert_eq!(tab.port().closed, 1);
    assert!(!tab.port().timers.contains_key(&Timer::Retry));
    // The EventSource's own error after going offline changes nothing.
    tab.stream_error(g);
    assert_eq!(client.connection_state(), ConnectionState::Offline);
    tab.online();
    assert_eq!(client.connection_state().as_str(), "reconnecting");
    let at = tab.port().timers[&Timer::Retry];
    assert!(
        at - world.now.get() < 1_000,
        "jittered within the first second"
    );
    world.advance(at - world.now.get());
    tab.timer(Timer::Retry);
    assert_eq!(tab.port().opened.len(), 2);
}

#[test]
fn the_leader_relays_and_every_follower_applies_each_event_exactly_once() {
    let world = World::new();
    let (mut a, ca) = world.tab(1, Role::Follower, Some(c(2)));
    let (mut b, cb) = world.tab(2, Role::Follower, Some(c(2)));
    assert!(a.port().opened.is_empty(), "followers do not stream");
    a.lock_granted();
    assert!(ca.is_leader() && !cb.is_leader());
    let (g, url) = a.port().opened[0].clone();
    assert_eq!(url, format!("/api/query-tags/events?cursor={}", c(2)));
    hello(&mut a, g, c(2), "ada");
    world.deliver(&mut [&mut a, &mut b]);
    assert_eq!(
        cb.connection_state(),
        ConnectionState::Open,
        "the leader's state"
    );

    for seq in [3, 5, 8] {
        invalidate(&mut a, g, c(seq), "todos");
    }
    // A replay after a hand-over may relay an event again: it is dropped.
    invalidate(&mut a, g, c(5), "todos");
    world.deliver(&mut [&mut a, &mut b]);
    assert_eq!(ids(&ca), [3, 5, 8]);
    assert_eq!(ids(&cb), [3, 5, 8]);
    assert!(cb
        .event_log()
        .iter()
        .all(|e| e.origin == EventOrigin::Relay));
}

#[test]
fn a_tab_that_joins_late_is_caught_up_from_its_render_cursor() {
    let world = World::new();
    let (mut a, _ca) = world.tab(1, Role::Follower, Some(c(1)));
    a.lock_granted();
    let (g, _) = a.port().opened[0].clone();
    hello(&mut a, g, c(1), "ada");
    invalidate(&mut a, g, c(4), "todos");
    invalidate(&mut a, g, c(6), "notes");
    world.bus.borrow_mut().clear();

    // Rendered at 4, hydrated after 6 was published: it needs 6, and not 4 again.
    let (mut late, cl) = world.tab(3, Role::Follower, Some(c(4)));
    // A live relay may overtake the catch-up.
    invalidate(&mut a, g, c(7), "todos");
    world.deliver(&mut [&mut a, &mut late]);
    assert_eq!(ids(&cl), [7, 6], "7 relayed live, 6 caught up, 4 not again");
    assert_eq!(cl.event_log()[1].origin, EventOrigin::CatchUp);

    // Rendered before what the leader can vouch for: everything is refetched.
    let (mut older, co) = world.tab(4, Role::Follower, Some(c(0)));
    world.deliver(&mut [&mut a, &mut older]);
    assert_eq!(ids(&co), [4, 6, 7]);
    assert!(
        co.event_log()
            .iter()
            .all(|e| e.origin == EventOrigin::CatchUp),
        "{:?}",
        co.event_log()
    );
}

#[test]
fn a_new_leader_resumes_where_it_is_complete_and_nothing_is_lost_or_doubled() {
    let world = World::new();
    let (mut a, _ca) = world.tab(1, Role::Follower, Some(c(1)));
    let (mut b, cb) = world.tab(2, Role::Follower, Some(c(1)));
    let (mut c3, cc) = world.tab(3, Role::Follower, Some(c(1)));
    a.lock_granted();
    let (g, _) = a.port().opened[0].clone();
    hello(&mut a, g, c(1), "ada");
    invalidate(&mut a, g, c(2), "todos");
    world.deliver(&mut [&mut a, &mut b, &mut c3]);
    // The leader receives 3 and is closed before relaying it.
    invalidate(&mut a, g, c(3), "todos");
    world.bus.borrow_mut().clear();
    a.stop();

    // B gets the lock: it resumes from 2, the hub replays 3, and B relays it with 4.
    b.lock_granted();
    let (gb, url) = b.port().opened[0].clone();
    assert_eq!(url, format!("/api/query-tags/events?cursor={}", c(2)));
    hello(&mut b, gb, c(2), "ada");
    invalidate(&mut b, gb, c(3), "todos");
    invalidate(&mut b, gb, c(4), "notes");
    world.deliver(&mut [&mut b, &mut c3]);
    assert_eq!(ids(&cb), [2, 3, 4]);
    assert_eq!(ids(&cc), [2, 3, 4]);
}

#[test]
fn a_silent_leader_is_pinged_then_its_lock_is_stolen() {
    let world = World::new();
    let (mut a, _) = world.tab(1, Role::Follower, None);
    let (mut b, _) = world.tab(2, Role::Follower, None);
    a.lock_granted();
    world.deliver(&mut [&mut a, &mut b]);
    // A answers pings while it lives.
    world.advance(2_000);
    b.timer(Timer::Tick);
    world.deliver(&mut [&mut a, &mut b]);
    world.advance(4_000);
    b.timer(Timer::Tick);
    assert_eq!(b.port().steals, 0, "A answered the ping");
    world.deliver(&mut [&mut a, &mut b]);
    // A freezes: no status, no answer.
    a.stop();
    world.bus.borrow_mut().clear();
    world.advance(2_000);
    b.timer(Timer::Tick);
    assert!(world
        .bus
        .borrow()
        .iter()
        .any(|m| matches!(m, TabMessage::Ping { from: 2 })));
    world.advance(3_000);
    b.timer(Timer::Tick);
    assert_eq!(b.port().steals, 1);
    b.lock_granted();
    assert_eq!(b.role(), Role::Leader);
    assert_eq!(b.port().opened.len(), 1);

    // If A wakes up, it learns it lost the lock and follows.
    let mut a2 = a;
    a2.lock_lost();
}

#[test]
fn a_reset_reaches_every_tab_once() {
    let world = World::new();
    let (mut a, ca) = world.tab(1, Role::Follower, Some(c(9)));
    let (mut b, cb) = world.tab(2, Role::Follower, Some(c(9)));
    a.lock_granted();
    let (g, _) = a.port().opened[0].clone();
    // The hub restarted: a new epoch, the stream says hello then reset.
    let moved = Cursor {
        epoch: EPOCH + 1,
        seq: 0,
    };
    hello(&mut a, g, moved, "ada");
    let data = format!(r#"{{"reason":"unknown_epoch","cursor":"{moved}"}}"#);
    for _ in 0..2 {
        a.stream_event(
            g,
            Sse {
                name: "reset",
                data: &data,
                last_event_id: &moved.to_string(),
            },
        );
    }
    world.deliver(&mut [&mut a, &mut b]);
    for client in [&ca, &cb] {
        let log = client.event_log();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].kind, "reset");
        assert_eq!(log[0].matched.len(), 2, "everything refetches");
        assert_eq!(client.connection_info().resets, 1);
    }
    // Events of the old epoch are late and covered by the reset.
    invalidate(&mut a, g, c(10), "todos");
    invalidate(&mut a, g, Cursor { seq: 1, ..moved }, "todos");
    world.deliver(&mut [&mut a, &mut b]);
    assert_eq!(ca.event_log().len(), 2);
    assert_eq!(cb.event_log().len(), 2);
}

#[test]
fn another_user_moves_the_tabs_to_another_channel() {
    let world = World::new();
    let (mut a, ca) = world.tab(1, Role::Follower, Some(c(1)));
    let (mut b, _) = world.tab(2, Role::Follower, Some(c(1)));
    a.lock_granted();
    let (g, _) = a.port().opened[0].clone();
    // Signed in as Bob in this browser since the page was rendered for Ada.
    hello(&mut a, g, c(1), "bob");
    assert_eq!(a.port().switched, ["bob"]);
    assert_eq!(ca.connection_state(), ConnectionState::Connecting);
    world.deliver(&mut [&mut a, &mut b]);
    assert_eq!(
        b.port().switched,
        ["bob"],
        "the other tabs of Ada's channel move too"
    );
    // Nothing of the old stream is applied after the move.
    invalidate(&mut a, g, c(3), "todos");
    assert!(ids(&ca).is_empty());
}

#[test]
fn tab_messages_round_trip_and_anything_else_is_ignored() {
    use super::wire::{LeaderStatus, RawEvent};
    let raw = RawEvent {
        name: "invalidate".into(),
        id: c(3).to_string(),
        data: r#"{"tags":[["todos"]],"scope":"global"}"#.into(),
    };
    let messages = [
        TabMessage::Event {
            from: 1,
            event: raw.clone(),
        },
        TabMessage::Status {
            from: 2,
            status: LeaderStatus {
                state: ConnectionState::Reconnecting {
                    attempt: 3,
                    next_retry: 1_700_000_000_123,
                },
                epoch: Some(EPOCH),
                cursor: Some(c(9)),
                reconnects: 4,
            },
        },
        TabMessage::Status {
            from: 2,
            status: LeaderStatus {
                state: ConnectionState::Failed {
                    status: 403,
                    reason: "forbidden_scope".into(),
                },
                epoch: None,
                cursor: None,
                reconnects: 0,
            },
        },
        TabMessage::Join {
            from: 3,
            after: None,
        },
        TabMessage::CatchUp {
            from: 4,
            to: 3,
            events: vec![raw.clone(), raw],
            complete: true,
            through: Some(c(3)),
        },
        TabMessage::Ping { from: 5 },
        TabMessage::Moved {
            from: 6,
            identity: "00ff".into(),
        },
    ];
    for message in messages {
        assert_eq!(TabMessage::decode(&message.encode()), Some(message));
    }
    let garbage: [&[&str]; 7] = [
        &[],
        &[""],
        &["event", "1", "invalidate"],
        &["status", "x", "open", "", "", "", "", "0"],
        &["status", "1", "bogus", "", "", "", "", "0"],
        &["catch_up", "1", "2", "1", "", "a", "b"],
        &["dance", "1"],
    ];
    for fields in garbage {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(TabMessage::decode(&fields), None, "{fields:?}");
    }
}

#[test]
fn an_event_this_tab_s_own_write_already_refetched_for_skips_those_queries_only() {
    let world = World::new();
    let (mut tab, client) = world.tab(1, Role::Solo, Some(c(4)));
    let (generation, _) = tab.port().opened[0].clone();
    hello(&mut tab, generation, c(4), "ada");
    let queries = client.queries().clone();
    let todos = queries
        .cache()
        .inspect()
        .into_iter()
        .find(|e| e.key.to_string().starts_with("todos"))
        .unwrap()
        .key;

    // A mutation's write became event 5 and the mutation refetched the todo list itself.
    queries.cover(c(5), vec![todos.clone()]);
    invalidate(&mut tab, generation, c(5), "todos");
    assert!(
        client.event_log()[0].matched.is_empty(),
        "the covered query is not invalidated again: {:?}",
        client.event_log()[0]
    );
    assert!(!queries.cache().status(&todos).unwrap().is_invalidated);
    assert!(queries.was_applied(c(5)));

    // Once only: a later event for the same tag invalidates it as usual.
    invalidate(&mut tab, generation, c(6), "todos");
    assert!(queries.cache().status(&todos).unwrap().is_invalidated);
    assert_eq!(client.event_log()[1].matched.len(), 1);
}

#[test]
fn only_a_leader_opens_its_stream_with_a_relay_for_its_own_identity() {
    let world = World::new();
    let (mut leader, _) = world.tab(1, Role::Leader, None);
    assert_eq!(
        leader.port().relays,
        vec![Some(Relay {
            from: 1,
            identity: "ada".into()
        })]
    );
    let (mut solo, _) = world.tab(2, Role::Solo, None);
    assert_eq!(
        solo.port().relays,
        vec![None],
        "a solo tab has no one to relay to"
    );
    let (mut follower, _) = world.tab(3, Role::Follower, None);
    assert!(follower.port().opened.is_empty() && follower.port().relays.is_empty());
}

/// The data of an event as `native.rs` decodes it: the same fields as `decodeEvent` of
/// `js/runtime.js` gives in the browser, checked on the same vectors by its test.
#[test]
fn the_native_decoder_gives_the_fields_the_browser_s_does() {
    let vectors: Vec<(String, String, Option<Vec<String>>)> =
        serde_json::from_str(include_str!("../../js/test/event-data.json")).unwrap();
    assert!(vectors.len() > 20);
    for (name, data, fields) in vectors {
        assert_eq!(
            super::runtime::decode_event(&name, &data),
            fields,
            "{name} {data}"
        );
    }
}

fn parse(name: &str, data: &str, id: &str) -> Incoming {
    Sse {
        name,
        data,
        last_event_id: id,
    }
    .parse()
}

#[test]
fn events_are_read_from_their_fields_and_anything_else_is_unreadable() {
    let k = |seq: u64| Cursor { epoch: 7, seq };
    let tag =
        |segments: Vec<crate::tags::Segment>| crate::tags::TagPattern::from_segments(segments);
    assert_eq!(
        parse("hello", r#"{"epoch":7,"cursor":"7-3","identity":"ab"}"#, ""),
        Incoming::Hello(Hello {
            epoch: 7,
            cursor: k(3),
            identity: Some("ab".into())
        })
    );
    assert_eq!(
        parse(
            "invalidate",
            r#"{"tags":[["todos",3,true],[],["i3"]]}"#,
            "7-4"
        ),
        Incoming::Event(Wire::Invalidate {
            id: Some(k(4)),
            tags: vec![
                tag(vec!["todos".into(), 3.into(), true.into()]),
                tag(vec![]),
                tag(vec!["i3".into()]),
            ]
        })
    );
    assert_eq!(
        parse("reset", r#"{"reason":"lagged","cursor":"7-9"}"#, "7-8"),
        Incoming::Event(Wire::Reset {
            id: Some(k(8)),
            cursor: k(9)
        })
    );
    // Without a readable cursor, the id is where the stream goes on.
    assert_eq!(
        parse("reset", "{}", "7-8"),
        Incoming::Event(Wire::Reset {
            id: Some(k(8)),
            cursor: k(8)
        })
    );
    assert_eq!(
        parse("reset", "{}", ""),
        Incoming::Event(Wire::Unreadable { id: None })
    );
    // Integers the fields cannot hold (beyond i64), numbers that are not integers, a browser's
    // integer without its digits, anything but JSON.
    for data in [
        r#"{"tags":[["a",9223372036854775808]]}"#,
        r#"{"tags":[["a",1.5]]}"#,
        r#"{"tags":[["a",1e3]]}"#,
        r#"{"tags":[["a",1.0]]}"#,
        r#"{"tags":[["a",-0]]}"#,
        "not json",
    ] {
        assert_eq!(
            parse("invalidate", data, "7-5"),
            Incoming::Event(Wire::Unreadable { id: Some(k(5)) }),
            "{data}"
        );
    }
    assert_eq!(
        parse("hello", r#"{"epoch":-1,"cursor":"7-0"}"#, ""),
        Incoming::Ignored
    );
    assert_eq!(
        parse("welcome", "{}", "7-5"),
        Incoming::Ignored,
        "a newer hub's event"
    );
}
