//! Events as the runtime handles them, and the messages tabs send each other.

use crate::protocol::{event, Cursor, Hello, Invalidation, Reset};
use crate::query::ConnectionState;
use crate::tags::TagPattern;
use serde::{Deserialize, Serialize};

/// One event of the hub's stream, parsed; relayed between tabs as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Wire {
    /// Queries matching `tags` must refetch.
    Invalidate {
        id: Option<Cursor>,
        tags: Vec<TagPattern>,
    },
    /// An `invalidate` whose data could not be read: refetching everything is always correct.
    Unreadable { id: Option<Cursor> },
    /// History was lost: refetch everything; the stream continues at `cursor`.
    Reset { id: Option<Cursor>, cursor: Cursor },
}

impl Wire {
    pub(crate) fn id(&self) -> Option<Cursor> {
        match self {
            Wire::Invalidate { id, .. } | Wire::Unreadable { id } | Wire::Reset { id, .. } => *id,
        }
    }
}

/// A Server-Sent Event as the browser hands it over.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sse<'a> {
    pub(crate) name: &'a str,
    pub(crate) data: &'a str,
    pub(crate) last_event_id: &'a str,
}

/// What a Server-Sent Event means to the runtime.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Incoming {
    Hello(Hello),
    Event(Wire),
    /// An event the runtime does not know (a newer hub), or an unreadable `hello`.
    Ignored,
}

impl Sse<'_> {
    pub(crate) fn parse(&self) -> Incoming {
        let id = self.last_event_id.parse::<Cursor>().ok();
        match self.name {
            event::HELLO => match serde_json::from_str::<Hello>(self.data) {
                Ok(hello) => Incoming::Hello(hello),
                Err(error) => {
                    tracing::warn!("leptos_query_tags: unreadable hello ({error})");
                    Incoming::Ignored
                }
            },
            event::INVALIDATE => {
                Incoming::Event(match serde_json::from_str::<Invalidation>(self.data) {
                    Ok(invalidation) => Wire::Invalidate {
                        id,
                        tags: invalidation.tags,
                    },
                    Err(error) => {
                        tracing::warn!(
                            "leptos_query_tags: unreadable invalidation ({error}); refetching every query"
                        );
                        Wire::Unreadable { id }
                    }
                })
            }
            event::RESET => Incoming::Event(match serde_json::from_str::<Reset>(self.data) {
                Ok(reset) => Wire::Reset {
                    id,
                    cursor: reset.cursor,
                },
                // Without a readable cursor the id is where the stream continues.
                Err(_) => match id {
                    Some(cursor) => Wire::Reset { id, cursor },
                    None => Wire::Unreadable { id },
                },
            }),
            _ => Incoming::Ignored,
        }
    }
}

/// What the leader tells the others about its stream (also its heartbeat).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LeaderStatus {
    pub(crate) state: ConnectionState,
    pub(crate) epoch: Option<u64>,
    pub(crate) cursor: Option<Cursor>,
    pub(crate) reconnects: u32,
}

/// Messages between the tabs of one browser profile, over a `BroadcastChannel` whose name
/// carries the origin, the hub's base path and the user's identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TabMessage {
    /// The leader relays an event of its stream.
    Event { from: u64, event: Wire },
    /// The leader's heartbeat, and its stream's state.
    Status { from: u64, status: LeaderStatus },
    /// A tab that starts following asks the leader for what it missed since `after`.
    Join { from: u64, after: Option<Cursor> },
    /// The leader's answer to `Join`: the events after `after` it has, whether that is all of
    /// them, and the position they bring the tab to.
    CatchUp {
        from: u64,
        to: u64,
        events: Vec<Wire>,
        complete: bool,
        through: Option<Cursor>,
    },
    /// A follower that has not heard the leader for a while asks for a `Status`.
    Ping { from: u64 },
    /// The hub says this browser's user is now `identity`: tabs move to that identity's channel.
    Moved { from: u64, identity: String },
}

/// Whether a message comes from this tab (a `BroadcastChannel` never echoes, but a test may).
impl TabMessage {
    pub(crate) fn from(&self) -> u64 {
        match self {
            TabMessage::Event { from, .. }
            | TabMessage::Status { from, .. }
            | TabMessage::Join { from, .. }
            | TabMessage::CatchUp { from, .. }
            | TabMessage::Ping { from }
            | TabMessage::Moved { from, .. } => *from,
        }
    }
}
