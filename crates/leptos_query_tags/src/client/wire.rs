//! Events as the runtime handles them, and the messages tabs send each other.
//!
//! ## An event's data as fields
//! The `data` of an event is JSON ([`crate::protocol`]). The runtime does not decode it with a
//! JSON decoder of its own: in the browser `js/runtime.js` decodes it with `JSON.parse` (see
//! `browser.rs`), elsewhere `native.rs` with `serde_json`, and both hand over the same strings,
//! which [`Sse::parse`] reads:
//! - `hello`: `[epoch, cursor]`, or `[epoch, cursor, identity]`;
//! - `reset`: `[cursor]`;
//! - `invalidate`: each segment of each pattern, `s` + a string, `i` + an integer's decimal
//!   digits, `t` or `f`, and an empty string after each pattern:
//!   `{"tags":[["todos",3],[]]}` is `["stodos", "i3", "", ""]`.
//!
//! A number that is not an integer, or whose digits the browser cannot keep (beyond 2^53
//! where `JSON.parse` gives no source text), is `i` with no digits, which the reader refuses.
//! Anything else (not JSON, another shape) is no fields. Either way the event is unreadable.
//! A decoder of the wasm's own cost 4.4 KB more than these fields and the JS (net, brotli:
//! docs/benchmarks.md).

use super::live::ConnectionState;
use crate::protocol::{event, Cursor};
use crate::tags::{Segment, TagPattern};

/// What the runtime reads of a `hello` ([`crate::protocol::Hello`]); the other fields are
/// skipped, so a newer hub's extra fields do not make the event unreadable.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hello {
    pub(crate) epoch: u64,
    pub(crate) cursor: Cursor,
    pub(crate) identity: Option<String>,
}

/// One event of the hub's stream, parsed.
#[derive(Clone, Debug, PartialEq)]
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

/// An event as the hub sent it: what the leader relays and what tabs keep for catch-ups.
/// Every tab parses it the same way ([`Sse::parse`]), so the channel needs no format of its own
/// for events (and the wasm no second set of decoders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) data: String,
}

impl RawEvent {
    pub(crate) fn of(sse: Sse<'_>) -> Self {
        RawEvent {
            name: sse.name.to_owned(),
            id: sse.last_event_id.to_owned(),
            data: sse.data.to_owned(),
        }
    }

    pub(crate) fn sse(&self) -> Sse<'_> {
        Sse {
            name: &self.name,
            data: &self.data,
            last_event_id: &self.id,
        }
    }

    pub(crate) fn cursor(&self) -> Option<Cursor> {
        self.id.parse().ok()
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
        let kind = self.name;
        if ![event::HELLO, event::INVALIDATE, event::RESET].contains(&kind) {
            return Incoming::Ignored;
        }
        let fields = super::runtime::decode_event(kind, self.data);
        let read = fields.as_deref().and_then(|fields| {
            let cursor = |i: usize| fields.get(i)?.parse::<Cursor>().ok();
            Some(match kind {
                event::HELLO if fields.len() <= 3 => Incoming::Hello(Hello {
                    epoch: fields.first()?.parse().ok()?,
                    cursor: cursor(1)?,
                    identity: fields.get(2).cloned(),
                }),
                event::INVALIDATE => Incoming::Event(Wire::Invalidate {
                    id,
                    tags: patterns(fields)?,
                }),
                event::RESET => Incoming::Event(Wire::Reset {
                    id,
                    cursor: cursor(0)?,
                }),
                _ => return None,
            })
        });
        read.unwrap_or_else(|| match (kind, id) {
            // Without a readable cursor the id is where the stream continues.
            (event::RESET, Some(cursor)) => Incoming::Event(Wire::Reset { id, cursor }),
            (event::RESET, None) => Incoming::Event(Wire::Unreadable { id }),
            (event::HELLO, _) => {
                crate::platform::warn(format_args!(
                    "leptos_query_tags: unreadable hello: {}",
                    self.data_start()
                ));
                Incoming::Ignored
            }
            _ => {
                crate::platform::warn(format_args!(
                    "leptos_query_tags: unreadable invalidation ({}); refetching every query",
                    self.data_start()
                ));
                Incoming::Event(Wire::Unreadable { id })
            }
        })
    }

    /// The first 200 bytes of the data, for a warning (an event may be large); nothing where
    /// they would end inside a character.
    fn data_start(&self) -> &str {
        let data = self.data;
        data.get(..data.len().min(200)).unwrap_or_default()
    }
}

/// The patterns of an `invalidate`'s fields; `None` for anything else.
fn patterns(fields: &[String]) -> Option<Vec<TagPattern>> {
    let mut patterns = Vec::new();
    let mut segments = Vec::new();
    for field in fields {
        if field.is_empty() {
            patterns.push(TagPattern::from_segments(std::mem::take(&mut segments)));
            continue;
        }
        segments.push(if let Some(text) = field.strip_prefix('s') {
            Segment::from(text.to_owned())
        } else if let Some(digits) = field.strip_prefix('i') {
            Segment::Int(digits.parse().ok()?)
        } else {
            Segment::Bool(match field.as_str() {
                "t" => true,
                "f" => false,
                _ => return None,
            })
        });
    }
    // Every pattern ends with an empty field.
    segments.is_empty().then_some(patterns)
}

/// What the leader tells the others about its stream (also its heartbeat).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LeaderStatus {
    pub(crate) state: ConnectionState,
    pub(crate) epoch: Option<u64>,
    pub(crate) cursor: Option<Cursor>,
    pub(crate) reconnects: u32,
}

/// The version of [`TabMessage`]'s encoding, part of the tabs' lock and channel name: change it
/// with the encoding. (2: JS arrays of strings; 1 was JSON text.)
pub(crate) const TAB_PROTOCOL: u32 = 2;

/// Messages between the tabs of one browser profile, over a `BroadcastChannel` whose name
/// carries the origin, the hub's base path and the user's identity.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TabMessage {
    /// The leader relays an event of its stream.
    Event { from: u64, event: RawEvent },
    /// The leader's heartbeat, and its stream's state.
    Status { from: u64, status: LeaderStatus },
    /// A tab that starts following asks the leader for what it missed since `after`.
    Join { from: u64, after: Option<Cursor> },
    /// The leader's answer to `Join`: the events after `after` it has, whether that is all of
    /// them, and the position they bring the tab to.
    CatchUp {
        from: u64,
        to: u64,
        events: Vec<RawEvent>,
        complete: bool,
        through: Option<Cursor>,
    },
    /// A follower that has not heard the leader for a while asks for a `Status`.
    Ping { from: u64 },
    /// The hub says this browser's user is now `identity`: tabs move to that identity's channel.
    Moved { from: u64, identity: String },
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn parse_opt<T: std::str::FromStr>(text: &str) -> Option<Option<T>> {
    if text.is_empty() {
        Some(None)
    } else {
        text.parse().ok().map(Some)
    }
}

impl TabMessage {
    /// The sender's tab id.
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

    /// Positional strings: `["event", from, name, id, data]`, and so on. The channel carries
    /// them as a JS array of strings (no JSON, no decoder in the wasm but the one below).
    pub(crate) fn encode(&self) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut push = |s: String| fields.push(s);
        match self {
            TabMessage::Event { from, event } => {
                push("event".into());
                push(from.to_string());
                push(event.name.clone());
                push(event.id.clone());
                push(event.data.clone());
            }
            TabMessage::Status { from, status } => {
                push("status".into());
                push(from.to_string());
                push(status.state.as_str().into());
                let (a, b) = match &status.state {
                    ConnectionState::Reconnecting {
                        attempt,
                        next_retry,
                    } => (attempt.to_string(), next_retry.to_string()),
                    ConnectionState::Failed { status, reason } => {
                        (status.to_string(), reason.clone())
                    }
                    _ => (String::new(), String::new()),
                };
                push(a);
                push(b);
                push(opt(status.epoch));
                push(opt(status.cursor));
                push(status.reconnects.to_string());
            }
            TabMessage::Join { from, after } => {
                push("join".into());
                push(from.to_string());
                push(opt(*after));
            }
            TabMessage::CatchUp {
                from,
                to,
                events,
                complete,
                through,
            } => {
                push("catch_up".into());
                push(from.to_string());
                push(to.to_string());
                push(if *complete { "1" } else { "0" }.into());
                push(opt(*through));
                for event in events {
                    push(event.name.clone());
                    push(event.id.clone());
                    push(event.data.clone());
                }
            }
            TabMessage::Ping { from } => {
                push("ping".into());
                push(from.to_string());
            }
            TabMessage::Moved { from, identity } => {
                push("moved".into());
                push(from.to_string());
                push(identity.clone());
            }
        }
        fields
    }

    /// Reads what [`TabMessage::encode`] wrote; `None` for anything else.
    pub(crate) fn decode(fields: &[String]) -> Option<TabMessage> {
        let kind = fields.first()?.as_str();
        let from: u64 = fields.get(1)?.parse().ok()?;
        let field = |i: usize| fields.get(i).map(String::as_str);
        Some(match (kind, fields.len()) {
            ("event", 5) => TabMessage::Event {
                from,
                event: RawEvent {
                    name: fields[2].clone(),
                    id: fields[3].clone(),
                    data: fields[4].clone(),
                },
            },
            ("status", 8) => {
                let (a, b) = (field(3)?, field(4)?);
                let state = match field(2)? {
                    "idle" => ConnectionState::Idle,
                    "connecting" => ConnectionState::Connecting,
                    "open" => ConnectionState::Open,
                    "offline" => ConnectionState::Offline,
                    "reconnecting" => ConnectionState::Reconnecting {
                        attempt: a.parse().ok()?,
                        next_retry: b.parse().ok()?,
                    },
                    "failed" => ConnectionState::Failed {
                        status: a.parse().ok()?,
                        reason: b.to_owned(),
                    },
                    _ => return None,
                };
                TabMessage::Status {
                    from,
                    status: LeaderStatus {
                        state,
                        epoch: parse_opt(field(5)?)?,
                        cursor: parse_opt(field(6)?)?,
                        reconnects: field(7)?.parse().ok()?,
                    },
                }
            }
            ("join", 3) => TabMessage::Join {
                from,
                after: parse_opt(field(2)?)?,
            },
            ("catch_up", n) if n >= 5 && (n - 5) % 3 == 0 => TabMessage::CatchUp {
                from,
                to: field(2)?.parse().ok()?,
                complete: field(3)? == "1",
                through: parse_opt(field(4)?)?,
                events: fields[5..]
                    .chunks(3)
                    .map(|c| RawEvent {
                        name: c[0].clone(),
                        id: c[1].clone(),
                        data: c[2].clone(),
                    })
                    .collect(),
            },
            ("ping", 2) => TabMessage::Ping { from },
            ("moved", 3) => TabMessage::Moved {
                from,
                identity: fields[2].clone(),
            },
            _ => return None,
        })
    }
}
