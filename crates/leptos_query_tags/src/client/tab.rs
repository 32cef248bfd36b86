//! One tab's runtime, without the browser: leadership, the stream's state machine, event
//! dispatch and de-duplication. The browser glue (`browser.rs`) turns DOM events into calls of
//! [`Tab`]'s methods and carries out what it asks of its [`Port`]; tests drive it with a fake
//! port and the manual clock.
//!
//! ## Roles
//! - **Leader**: holds the Web Lock of its identity, opens the `EventSource`, applies every event
//!   and relays it (and a status heartbeat) over the `BroadcastChannel`.
//! - **Follower**: waits for the lock; applies relayed events; asks the leader to catch it up
//!   from its render cursor (`Join`); steals the lock when the leader stops answering.
//! - **Solo**: no Web Locks or no `BroadcastChannel`: its own stream, nothing relayed.
//!
//! ## The stream (leader and solo)
//! Reconnection is the client's own: on any `error` the `EventSource` is closed and reopened from
//! the resume cursor after a full-jitter exponential backoff (the first retry too, so a server
//! restart does not bring every browser back in the same second). An error before the stream
//! ever opened is followed by a probe (a plain `GET` of the same URL) that reads the hub's
//! status and JSON reason: a refusal is [`ConnectionState::Failed`], anything else
//! [`ConnectionState::Reconnecting`].

use super::live::{ConnectionState, EventOrigin, EventRecord, QueryTagsClient};
use super::received::{Received, Verdict};
use super::wire::{Incoming, LeaderStatus, RawEvent, Sse, TabMessage, Wire};
use crate::protocol::{Cursor, CURSOR_PARAM, EVENTS_PATH};

/// First backoff ceiling, doubled per failed attempt up to [`MAX_BACKOFF_MS`].
pub(crate) const BASE_BACKOFF_MS: u64 = 1_000;
/// Largest backoff ceiling.
pub(crate) const MAX_BACKOFF_MS: u64 = 30_000;
/// After a refusal (401, 403, ...) the client retries at this ceiling: the session or the
/// limits may change, but hammering the hub will not help.
pub(crate) const REFUSED_BACKOFF_MS: u64 = 60_000;
/// Every tab ticks this often: the leader sends its status (the heartbeat), followers check it.
pub(crate) const TICK_MS: u32 = 1_000;
/// A follower that has not heard the leader for this long pings it.
pub(crate) const PING_AFTER_MS: u64 = 2_000;
/// A follower that has not heard the leader for this long (pings unanswered) steals the lock.
pub(crate) const STEAL_AFTER_MS: u64 = 5_000;

/// How a leader's stream is relayed before this tab's thread sees it. The browser port opens a
/// leader's stream in a worker, which posts each event to the other tabs itself (the same
/// message the tab would post, from `from`): a leader busy rendering does not delay the other
/// tabs. The tab still relays what it handles; followers keep the first copy (by event id).
/// That second copy is needed: a follower that joins after the worker posted an event, while
/// the leader's page has not handled it yet, gets a catch-up without it and only the page's
/// copy brings it. Only while the stream says hello with `identity`: a stream of another user
/// (the session changed) is never relayed to this user's tabs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Relay {
    /// The leader's tab id, as its own messages carry it.
    pub(crate) from: u64,
    /// The identity the channel belongs to.
    pub(crate) identity: String,
}

/// The timers a tab sets; setting one replaces the previous timer of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Timer {
    /// The next reconnection attempt.
    Retry,
    /// The periodic tick (heartbeat / liveness check).
    Tick,
}

/// What a probe of the stream's URL found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The request failed (network error, server down).
    Unreachable,
    /// An answer with this status and, for the hub's error answers, their reason (the `error`
    /// of the JSON body, [`crate::protocol::ErrorBody`]; empty for any other body).
    Answered { status: u16, reason: String },
}

/// What a tab asks of the browser.
pub(crate) trait Port {
    /// Milliseconds since the UNIX epoch.
    fn now_ms(&self) -> u64;
    /// A uniform random number in `[0, 1)`.
    fn random(&mut self) -> f64;
    /// Opens an `EventSource` on `url`; its events come back tagged with `generation`.
    /// `relay`: given to a leader, whose port relays the stream's events to the other tabs as
    /// they arrive (see [`Relay`]).
    fn open_stream(&mut self, generation: u32, url: &str, relay: Option<Relay>);
    /// Closes the `EventSource`, if one is open.
    fn close_stream(&mut self);
    /// `GET url`, reading the status and (for an error) the body; answers with `generation`.
    fn probe(&mut self, generation: u32, url: &str);
    /// Sets (or replaces) a timer.
    fn set_timer(&mut self, timer: Timer, after_ms: u64);
    /// Cancels a timer.
    fn cancel_timer(&mut self, timer: Timer);
    /// Posts to the other tabs.
    fn post(&mut self, message: &TabMessage);
    /// Takes the lock from a leader that stopped answering.
    fn steal_lock(&mut self);
    /// The hub says the user is now `identity`: leave this identity's channel and lock for
    /// that one's (the glue rebuilds the tab around the same [`Received`]).
    fn switch_identity(&mut self, identity: String);
}

/// A tab's role among the tabs of its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Solo,
    Follower,
    Leader,
}

/// Where the tab's own stream is (leader and solo only).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stream {
    /// No stream: a follower, or stopped.
    Closed,
    /// An `EventSource` is open or opening; `opened` once it fired `open`, `live` once the hub
    /// said hello.
    Opening {
        opened: bool,
    },
    Live,
    /// Probing the URL after an error before `open`.
    Probing,
    /// Waiting for the retry timer.
    Waiting,
    /// The browser is offline.
    Offline,
}

/// One tab's runtime.
pub(crate) struct Tab<P: Port> {
    port: P,
    client: QueryTagsClient,
    id: u64,
    role: Role,
    identity: Option<String>,
    received: Received,
    stream: Stream,
    generation: u32,
    /// Consecutive failed attempts.
    failures: u32,
    /// Whether a hello was ever received (later hellos count as reconnects).
    ever_live: bool,
    online: bool,
    /// The id of the last `reset` applied (resets are de-duplicated by id, not by the floor).
    last_reset: Option<Cursor>,
    /// Followers: when the leader was last heard, and whether it has caught this tab up.
    last_heard: u64,
    caught_up: bool,
    stopped: bool,
}

impl<P: Port> Tab<P> {
    /// A tab with `received` (the render cursor for a fresh page), in `role`, for `identity`.
    pub(crate) fn new(
        port: P,
        client: QueryTagsClient,
        id: u64,
        role: Role,
        identity: Option<String>,
        received: Received,
        online: bool,
    ) -> Self {
        let now = port.now_ms();
        Tab {
            port,
            client,
            id,
            role,
            identity,
            received,
            stream: Stream::Closed,
            generation: 0,
            failures: 0,
            ever_live: false,
            online,
            last_reset: None,
            last_heard: now,
            caught_up: false,
            stopped: false,
        }
    }

    /// Starts the tab: a solo tab opens its stream, a follower asks to be caught up.
    pub(crate) fn start(&mut self) {
        self.client.set_leader(self.role != Role::Follower);
        self.client
            .update_info(|i| i.identity = self.identity.clone());
        match self.role {
            Role::Solo | Role::Leader => self.connect(),
            Role::Follower => {
                self.received.lose_order();
                self.client.set_state(if self.online {
                    ConnectionState::Connecting
                } else {
                    ConnectionState::Offline
                });
                self.port.post(&TabMessage::Join {
                    from: self.id,
                    after: self.received.resume(),
                });
                self.port.set_timer(Timer::Tick, u64::from(TICK_MS));
            }
        }
    }

    /// Stops everything (the page is hidden or closed); `into_received` keeps what it saw.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.close();
        self.stream = Stream::Closed;
        self.port.cancel_timer(Timer::Retry);
        self.port.cancel_timer(Timer::Tick);
    }

    /// What this tab received, to carry into the tab that replaces it.
    pub(crate) fn into_received(self) -> Received {
        self.received
    }

    #[cfg(test)]
    pub(crate) fn port(&mut self) -> &mut P {
        &mut self.port
    }

    #[cfg(test)]
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// This tab got the lock: it leads from now on.
    pub(crate) fn lock_granted(&mut self) {
        if self.stopped || self.role == Role::Leader {
            return;
        }
        self.role = Role::Leader;
        self.client.set_leader(true);
        self.port.set_timer(Timer::Tick, u64::from(TICK_MS));
        self.connect();
        self.post_status();
    }

    /// Another tab stole the lock: follow it.
    pub(crate) fn lock_lost(&mut self) {
        if self.stopped || self.role != Role::Leader {
            return;
        }
        self.close();
        self.stream = Stream::Closed;
        self.port.cancel_timer(Timer::Retry);
        self.role = Role::Follower;
        self.client.set_leader(false);
        self.last_heard = self.port.now_ms();
        // Whatever the new leader relays continues from where this tab's stream stopped.
        self.caught_up = true;
        self.port.set_timer(Timer::Tick, u64::from(TICK_MS));
    }

    fn url(&self) -> String {
        let base = self.client.base_path();
        match self.received.resume() {
            Some(cursor) => format!("{base}{EVENTS_PATH}?{CURSOR_PARAM}={cursor}"),
            None => format!("{base}{EVENTS_PATH}"),
        }
    }

    fn connect(&mut self) {
        if !self.online {
            self.go_offline();
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        self.stream = Stream::Opening { opened: false };
        if !self.ever_live && self.failures == 0 {
            self.set_state(ConnectionState::Connecting);
        }
        let url = self.url();
        let relay = match (&self.role, &self.identity) {
            (Role::Leader, Some(identity)) => Some(Relay {
                from: self.id,
                identity: identity.clone(),
            }),
            _ => None,
        };
        self.port.open_stream(self.generation, &url, relay);
    }

    fn close(&mut self) {
        if matches!(self.stream, Stream::Opening { .. } | Stream::Live) {
            self.port.close_stream();
        }
    }

    fn set_state(&mut self, state: ConnectionState) {
        self.client.set_state(state);
        if self.role == Role::Leader {
            self.post_status();
        }
    }

    fn post_status(&mut self) {
        let info = self.client.info_untracked();
        self.port.post(&TabMessage::Status {
            from: self.id,
            status: LeaderStatus {
                state: self.client.state_untracked(),
                epoch: info.epoch,
                cursor: self.received.highest(),
                reconnects: info.reconnects,
            },
        });
    }

    /// The full-jitter backoff before attempt `failures + 1`.
    fn backoff(&mut self, ceiling_base: u64) -> u64 {
        let exp = self.failures.saturating_sub(1).min(16);
        let ceiling = ceiling_base
            .saturating_mul(1 << exp)
            .min(MAX_BACKOFF_MS.max(ceiling_base));
        (self.port.random() * ceiling as f64) as u64
    }

    /// Waits for the next attempt; `refused` keeps the `Failed` state meanwhile.
    fn retry_later(&mut self, refused: Option<(u16, String)>) {
        self.close();
        self.stream = Stream::Waiting;
        self.failures = self.failures.saturating_add(1);
        let delay = match refused {
            Some((429, _)) | None => self.backoff(BASE_BACKOFF_MS),
            Some(_) => self.backoff(REFUSED_BACKOFF_MS),
        };
        let next_retry = self.port.now_ms() + delay;
        self.port.set_timer(Timer::Retry, delay);
        self.set_state(match refused {
            Some((status, reason)) => ConnectionState::Failed { status, reason },
            None => ConnectionState::Reconnecting {
                attempt: self.failures,
                next_retry,
            },
        });
    }

    fn go_offline(&mut self) {
        self.close();
        self.stream = Stream::Offline;
        self.port.cancel_timer(Timer::Retry);
        self.set_state(ConnectionState::Offline);
    }

    /// A timer fired.
    pub(crate) fn timer(&mut self, timer: Timer) {
        if self.stopped {
            return;
        }
        match timer {
            Timer::Retry => {
                if self.stream == Stream::Waiting && self.role != Role::Follower {
                    self.connect();
                }
            }
            Timer::Tick => {
                self.tick();
                self.port.set_timer(Timer::Tick, u64::from(TICK_MS));
            }
        }
    }

    fn tick(&mut self) {
        match self.role {
            Role::Leader => self.post_status(),
            Role::Solo => {}
            Role::Follower => {
                let silent = self.port.now_ms().saturating_sub(self.last_heard);
                if silent >= STEAL_AFTER_MS {
                    self.last_heard = self.port.now_ms();
                    self.port.steal_lock();
                } else if silent >= PING_AFTER_MS {
                    self.port.post(&TabMessage::Ping { from: self.id });
                }
                if !self.caught_up {
                    // The leader may not have led yet when this tab first asked.
                    self.port.post(&TabMessage::Join {
                        from: self.id,
                        after: self.received.resume(),
                    });
                }
            }
        }
    }

    /// The `EventSource` of `generation` fired `open`.
    pub(crate) fn stream_opened(&mut self, generation: u32) {
        if generation == self.generation {
            if let Stream::Opening { opened } = &mut self.stream {
                *opened = true;
            }
        }
    }

    /// The `EventSource` of `generation` fired `error`.
    pub(crate) fn stream_error(&mut self, generation: u32) {
        if generation != self.generation || self.stopped {
            return;
        }
        match self.stream {
            Stream::Opening { opened: false } => {
                // The browser does not say why; ask the hub with a plain request.
                self.close();
                self.stream = Stream::Probing;
                let url = self.url();
                self.port.probe(self.generation, &url);
            }
            Stream::Opening { opened: true } | Stream::Live => self.retry_later(None),
            _ => {}
        }
    }

    /// The probe of `generation` found `probe`.
    pub(crate) fn probed(&mut self, generation: u32, probe: Probe) {
        if generation != self.generation || self.stream != Stream::Probing || self.stopped {
            return;
        }
        let refused = match probe {
            Probe::Answered { status, reason } if (400..500).contains(&status) => Some((
                status,
                if reason.is_empty() {
                    format!("http_{status}")
                } else {
                    reason
                },
            )),
            _ => None,
        };
        self.retry_later(refused);
    }

    /// A Server-Sent Event of the stream of `generation`.
    pub(crate) fn stream_event(&mut self, generation: u32, sse: Sse<'_>) {
        if generation != self.generation || self.stopped {
            return;
        }
        match sse.parse() {
            Incoming::Hello(hello) => {
                if let Some(identity) = hello.identity.clone() {
                    if self.role != Role::Solo && self.identity.as_ref() != Some(&identity) {
                        self.moved_to(identity, true);
                        return;
                    }
                }
                self.stream = Stream::Live;
                self.failures = 0;
                self.received.follow_from(hello.cursor);
                let reconnected = self.ever_live;
                self.ever_live = true;
                self.client.update_info(|i| {
                    i.epoch = Some(hello.epoch);
                    i.identity = hello.identity.clone().or(i.identity.take());
                    if reconnected {
                        i.reconnects += 1;
                    }
                });
                self.set_state(ConnectionState::Open);
            }
            Incoming::Event(event) => {
                if !matches!(self.stream, Stream::Live) {
                    return;
                }
                let raw = RawEvent::of(sse);
                // Relay first: the other tabs start their refetches while this one applies.
                if self.role == Role::Leader {
                    self.port.post(&TabMessage::Event {
                        from: self.id,
                        event: raw.clone(),
                    });
                }
                self.apply(&event, Some(&raw), EventOrigin::Stream);
            }
            Incoming::Ignored => {}
        }
    }

    /// The user changed: move to the new identity's tabs. `announce` tells the tabs of the old
    /// identity to move too.
    fn moved_to(&mut self, identity: String, announce: bool) {
        if announce {
            self.port.post(&TabMessage::Moved {
                from: self.id,
                identity: identity.clone(),
            });
        }
        if self.identity.is_some() {
            // Another user's data may be on screen: everything is stale.
            self.apply(&Wire::Unreadable { id: None }, None, EventOrigin::Stream);
        }
        self.stop();
        self.port.switch_identity(identity);
    }

    /// Applies `event` (as the hub sent it: `raw`) once: duplicates (by id) are dropped.
    fn apply(&mut self, event: &Wire, raw: Option<&RawEvent>, origin: EventOrigin) {
        let matched = match event {
            Wire::Reset { id, cursor } => {
                if id.is_some() && *id == self.last_reset {
                    return;
                }
                self.last_reset = *id;
                self.received.reset_to(*cursor);
                self.client.update_info(|i| i.resets += 1);
                self.client.queries().cache().invalidate_every()
            }
            Wire::Invalidate { id, tags } => {
                let verdict = id.map_or(Verdict::New, |id| self.received.accept(id));
                let queries = self.client.queries();
                if verdict != Verdict::Duplicate {
                    if let Some(id) = id {
                        queries.note_applied(*id);
                    }
                }
                match verdict {
                    Verdict::Duplicate => return,
                    Verdict::New => {
                        // Queries this tab's own write already refetched for this event.
                        let covered = id.map(|id| queries.take_covered(id)).unwrap_or_default();
                        queries.cache().invalidate_matching_except(tags, &covered)
                    }
                    Verdict::NewEpoch => queries.cache().invalidate_every(),
                }
            }
            Wire::Unreadable { id } => {
                if id.is_some_and(|id| self.received.accept(id) == Verdict::Duplicate) {
                    return;
                }
                self.client.queries().cache().invalidate_every()
            }
        };
        if let Some(raw) = raw {
            self.received.applied(raw);
        }
        let cursor = self.received.highest();
        self.client.update_info(|i| i.cursor = cursor);
        if let Wire::Unreadable { id: None } = event {
            return; // a local refetch, not an event of the hub
        }
        let refetched = matched
            .iter()
            .filter(|(_, refetched)| *refetched)
            .map(|(key, _)| key.clone())
            .collect();
        self.client.record_event(
            EventRecord {
                id: event.id(),
                kind: match event {
                    Wire::Reset { .. } => "reset",
                    _ => "invalidate",
                },
                tags: match event {
                    Wire::Invalidate { tags, .. } => tags.clone(),
                    _ => Vec::new(),
                },
                matched: matched
                    .into_iter()
                    .map(|(key, refetched)| (key.to_string(), refetched))
                    .collect(),
                origin,
                at_ms: self.port.now_ms(),
            },
            refetched,
        );
    }

    /// Applies an event another tab relayed (parsed here as if from the stream).
    fn apply_raw(&mut self, raw: &RawEvent, origin: EventOrigin) {
        if let Incoming::Event(event) = raw.sse().parse() {
            self.apply(&event, Some(raw), origin);
        }
    }

    /// A message from another tab.
    pub(crate) fn message(&mut self, message: TabMessage) {
        if self.stopped || message.from() == self.id {
            return;
        }
        match message {
            TabMessage::Event { event, .. } if self.role == Role::Follower => {
                self.last_heard = self.port.now_ms();
                self.apply_raw(&event, EventOrigin::Relay);
            }
            TabMessage::Status { status, .. } if self.role == Role::Follower => {
                self.last_heard = self.port.now_ms();
                if self.online || status.state != ConnectionState::Offline {
                    self.client.set_state(status.state);
                }
                self.client.update_info(|i| {
                    i.epoch = status.epoch.or(i.epoch);
                    i.reconnects = status.reconnects;
                });
            }
            TabMessage::Join { from, after } if self.role == Role::Leader => {
                let (events, complete) = self.received.since(after);
                self.port.post(&TabMessage::CatchUp {
                    from: self.id,
                    to: from,
                    events,
                    complete,
                    through: self.received.resume(),
                });
            }
            TabMessage::CatchUp {
                to,
                events,
                complete,
                through,
                ..
            } if to == self.id && self.role == Role::Follower && !self.caught_up => {
                self.last_heard = self.port.now_ms();
                self.caught_up = true;
                for event in &events {
                    self.apply_raw(event, EventOrigin::CatchUp);
                }
                if !complete {
                    // The leader cannot vouch for everything since this page was rendered.
                    self.apply(&Wire::Unreadable { id: None }, None, EventOrigin::CatchUp);
                }
                if let Some(through) = through {
                    self.received.follow_from(through);
                }
            }
            TabMessage::Ping { .. } if self.role == Role::Leader => self.post_status(),
            TabMessage::Moved { identity, .. } if self.identity.as_ref() != Some(&identity) => {
                self.moved_to(identity, false);
            }
            _ => {}
        }
    }

    /// The browser went offline.
    pub(crate) fn offline(&mut self) {
        self.online = false;
        if self.stopped {
            return;
        }
        match self.role {
            Role::Follower => self.client.set_state(ConnectionState::Offline),
            _ => self.go_offline(),
        }
    }

    /// The browser is back online: reconnect soon (jittered, like every retry).
    pub(crate) fn online(&mut self) {
        self.online = true;
        if self.stopped {
            return;
        }
        match self.role {
            Role::Follower => {
                self.last_heard = self.port.now_ms();
                self.client.set_state(ConnectionState::Connecting);
            }
            _ if self.stream == Stream::Offline => {
                self.failures = 0;
                self.retry_later(None);
            }
            _ => {}
        }
    }
}
