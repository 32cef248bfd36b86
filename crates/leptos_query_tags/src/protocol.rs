//! The wire protocol between the hub and its clients: paths, event names, ids and payloads, as
//! Rust types and constants. What follows is `docs/protocol.md`, the contract for clients in any
//! language.
//!
#![doc = include_str!("../docs/protocol.md")]

use crate::tags::TagPattern;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Version of the wire protocol, sent in every `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Where the hub's endpoints live unless configured otherwise.
pub const DEFAULT_BASE_PATH: &str = "/api/query-tags";

/// The SSE stream, relative to the base path.
pub const EVENTS_PATH: &str = "/events";

/// The JS client (an ES module, no dependencies), relative to the base path: served unless the
/// hub is built with `serve_js_client(false)`.
pub const JS_CLIENT_PATH: &str = "/client.js";

/// The query parameter carrying a [`Cursor`] to resume from.
pub const CURSOR_PARAM: &str = "cursor";

/// The query parameter, repeatable, narrowing a stream to some of the scopes it may receive.
pub const SCOPE_PARAM: &str = "scope";

/// The publish endpoint for external producers, relative to the base path (off unless the hub
/// has a secret).
pub const PUBLISH_PATH: &str = "/publish";

/// Names of the SSE events the hub sends (the `event:` field).
pub mod event {
    /// First event of every stream: a [`Hello`](super::Hello).
    pub const HELLO: &str = "hello";
    /// Queries matching any pattern must refetch: an [`Invalidation`](super::Invalidation).
    pub const INVALIDATE: &str = "invalidate";
    /// Events were missed and cannot be replayed: refetch every active query. A
    /// [`Reset`](super::Reset).
    pub const RESET: &str = "reset";
}

/// How the hub writes its stream: Server-Sent Events frames (`text/event-stream`). What a
/// client in any language reads; the hub's endpoint and its replay use exactly these.
///
/// ```
/// use leptos_query_tags::protocol::{sse, Cursor, ResetReason};
/// use std::time::Duration;
///
/// let id = Cursor { epoch: 3, seq: 4 };
/// assert_eq!(
///     sse::frame("invalidate", Some(id), r#"{"tags":[]}"#, Some(Duration::from_secs(2))),
///     "retry: 2000\nid: 3-4\nevent: invalidate\ndata: {\"tags\":[]}\n\n"
/// );
/// assert_eq!(
///     sse::reset(ResetReason::Lagged, id),
///     "id: 3-4\nevent: reset\ndata: {\"reason\":\"lagged\",\"cursor\":\"3-4\"}\n\n"
/// );
/// ```
pub mod sse {
    use super::{event, Cursor, Reset, ResetReason};
    use std::fmt::Write;
    use std::time::Duration;

    /// A comment line the hub sends on idle streams, so that proxies and the browser keep them.
    pub const HEARTBEAT: &str = ": heartbeat\n\n";

    /// One frame. `data` must not contain a newline (compact JSON never does); `retry` tells
    /// the browser how long to wait before reconnecting on its own.
    pub fn frame(event: &str, id: Option<Cursor>, data: &str, retry: Option<Duration>) -> String {
        debug_assert!(!data.contains('\n'));
        let mut out = String::with_capacity(data.len() + 64);
        if let Some(retry) = retry {
            let _ = writeln!(out, "retry: {}", retry.as_millis());
        }
        if let Some(id) = id {
            let _ = writeln!(out, "id: {id}");
        }
        out.push_str("event: ");
        out.push_str(event);
        out.push_str("\ndata: ");
        out.push_str(data);
        out.push_str("\n\n");
        out
    }

    /// A value of the protocol as the `data` of a frame: compact JSON.
    pub fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value)
            .unwrap_or_else(|_| unreachable!("protocol types always serialize"))
    }

    /// A [`Reset`] frame. It carries the id the stream continues from, so that
    /// the browser's `Last-Event-ID` moves past what the client is about to refetch anyway.
    pub fn reset(reason: ResetReason, cursor: Cursor) -> String {
        frame(
            event::RESET,
            Some(cursor),
            &json(&Reset { reason, cursor }),
            None,
        )
    }
}

/// What a server-rendered page tells its browser runtime, so that it starts right: the cursor
/// to resume the event stream from (the hub's position when the page request arrived: nothing
/// published while the page renders and loads is missed) and the [`identity`] of the user it
/// is rendered for (so that the browser's tabs share a stream only with tabs of the same user,
/// from the first moment).
///
/// The hub's layer (`Hub::mount`) puts it in the extensions of each page request; the
/// provider reads it from the request during the render (or from the Leptos context, where an
/// application provides it itself), and the page carries it to the browser. A client-side
/// rendered (`csr`) app has no render to start from: its stream starts when the app loads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderStart {
    /// Where the browser's stream resumes.
    pub cursor: Option<Cursor>,
    /// Whose page it is.
    pub identity: Option<String>,
}

/// The text form the page carries to the browser: the cursor (empty without one), then, with
/// an identity, a space and the identity.
///
/// ```
/// use leptos_query_tags::protocol::{Cursor, RenderStart};
///
/// let start = RenderStart { cursor: Some(Cursor { epoch: 7, seq: 42 }), identity: Some("ab12".into()) };
/// assert_eq!(start.to_string(), "7-42 ab12");
/// assert_eq!("7-42 ab12".parse::<RenderStart>(), Ok(start));
/// assert_eq!("".parse::<RenderStart>(), Ok(RenderStart::default()));
/// assert!("7-x".parse::<RenderStart>().is_err());
/// // Every start reads back as itself: no cursor, an empty identity, one with spaces.
/// for start in [
///     RenderStart { cursor: None, identity: Some("ab12".into()) },
///     RenderStart { cursor: Some(Cursor { epoch: 1, seq: 0 }), identity: None },
///     RenderStart { cursor: Some(Cursor { epoch: 1, seq: 0 }), identity: Some(String::new()) },
///     RenderStart { cursor: None, identity: Some("a b  c".into()) },
/// ] {
///     assert_eq!(start.to_string().parse::<RenderStart>(), Ok(start));
/// }
/// ```
impl fmt::Display for RenderStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cursor) = self.cursor {
            write!(f, "{cursor}")?;
        }
        match &self.identity {
            Some(identity) => write!(f, " {identity}"),
            None => Ok(()),
        }
    }
}

impl FromStr for RenderStart {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cursor, identity) = match s.split_once(' ') {
            Some((cursor, identity)) => (cursor, Some(identity.to_owned())),
            None => (s, None),
        };
        Ok(RenderStart {
            cursor: if cursor.is_empty() {
                None
            } else {
                Some(cursor.parse()?)
            },
            identity,
        })
    }
}

/// The id of an event, `<epoch>-<seq>` on the wire.
///
/// The epoch names one run of the hub's event log (a process start for the in-memory backend);
/// `seq` counts events within it, from 1. A cursor with `seq` 0 stands before the first event.
/// A client that has seen event `e` has seen every event of the same epoch with a lower `seq`.
///
/// ```
/// use leptos_query_tags::protocol::Cursor;
///
/// let id: Cursor = "1732252800000-42".parse().unwrap();
/// assert_eq!((id.epoch, id.seq), (1732252800000, 42));
/// assert_eq!(id.to_string(), "1732252800000-42");
/// assert!("42".parse::<Cursor>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    /// Which run of the event log.
    pub epoch: u64,
    /// Position within that run; 0 is before the first event.
    pub seq: u64,
}

/// An event id is a cursor: the position just after that event.
pub type EventId = Cursor;

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

/// Why a cursor or event id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed cursor {input:?}: expected <epoch>-<seq>, two decimal integers")]
pub struct CursorError {
    /// The text that was refused (cut to 64 bytes).
    pub input: String,
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CursorError {
            input: s.chars().take(64).collect(),
        };
        let (epoch, seq) = s.split_once('-').ok_or_else(err)?;
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(epoch) || !digits(seq) {
            return Err(err());
        }
        Ok(Cursor {
            epoch: epoch.parse().map_err(|_| err())?,
            seq: seq.parse().map_err(|_| err())?,
        })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Data of the `hello` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the hub.
    pub protocol: u32,
    /// The hub's current epoch.
    pub epoch: u64,
    /// Where this stream starts: every event after it will be delivered (replayed first).
    pub cursor: Cursor,
    /// Interval of heartbeat comments, in milliseconds.
    pub heartbeat_ms: u64,
    /// Who this stream is for: a short digest of the scopes the connection may receive, the
    /// same for every connection of one user and different for another user. Browser tabs
    /// share one stream only among tabs of the same identity (see [`identity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// The identity of a connection allowed to receive `scopes`: FNV-1a (64 bits, hex) of the
/// sorted, de-duplicated scope names, one per line.
///
/// It is not a secret and not a credential (it only names which tabs may share a stream, and
/// only the user's own tabs see it); it changes when the user, and so the scopes, change.
///
/// ```
/// use leptos_query_tags::protocol::{identity, Scope};
///
/// let ada = [Scope::global(), Scope::new("user:ada").unwrap()];
/// let ada_again = [Scope::new("user:ada").unwrap(), Scope::global()];
/// let bob = [Scope::global(), Scope::new("user:bob").unwrap()];
/// assert_eq!(identity(&ada), identity(&ada_again));
/// assert_ne!(identity(&ada), identity(&bob));
/// assert_eq!(identity(&ada).len(), 16);
/// ```
pub fn identity(scopes: &[Scope]) -> String {
    let mut names: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in names {
        for byte in name.bytes().chain(std::iter::once(b'\n')) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Who may receive an event: [`Scope::global`] (everyone), or a key such as `user:42` or
/// `tenant:acme` that the application's scope resolver grants to some connections only.
///
/// A scope is 1 to 128 bytes of ASCII letters, digits and `_ - . : @`.
///
/// ```
/// use leptos_query_tags::protocol::Scope;
///
/// assert_eq!(Scope::global().as_str(), "global");
/// assert_eq!(Scope::new("user:42").unwrap(), Scope::keyed("user", 42).unwrap());
/// assert!(Scope::new("user 42").is_err());
/// assert!(Scope::new("").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(std::borrow::Cow<'static, str>);

/// Why a scope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {input:?}: 1 to 128 bytes of ASCII letters, digits and _ - . : @")]
pub struct ScopeError {
    /// The text that was refused (cut to 64 characters).
    pub input: String,
}

impl Scope {
    /// Longest scope, in bytes.
    pub const MAX_LEN: usize = 128;

    /// The scope every connection may receive unless the resolver says otherwise.
    pub const fn global() -> Scope {
        Scope(std::borrow::Cow::Borrowed("global"))
    }

    /// Validates `scope`.
    pub fn new(scope: impl Into<String>) -> Result<Scope, ScopeError> {
        let scope = scope.into();
        let valid = !scope.is_empty()
            && scope.len() <= Self::MAX_LEN
            && scope.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@')
            });
        if valid {
            Ok(Scope(std::borrow::Cow::Owned(scope)))
        } else {
            Err(ScopeError {
                input: scope.chars().take(64).collect(),
            })
        }
    }

    /// `<kind>:<id>`, such as `user:42`.
    pub fn keyed(kind: &str, id: impl fmt::Display) -> Result<Scope, ScopeError> {
        Scope::new(format!("{kind}:{id}"))
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is [`Scope::global`].
    pub fn is_global(&self) -> bool {
        self.0 == "global"
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::global()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::new(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Scope::new(s).map_err(serde::de::Error::custom)
    }
}

/// Data of the `invalidate` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    /// Every query carrying a tag that one of these patterns matches must refetch.
    pub tags: Vec<TagPattern>,
    /// The scope the event was published in (the connection was allowed to receive it).
    #[serde(default)]
    pub scope: Scope,
}

/// Body of `POST <base>/publish`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The patterns to invalidate (1 to 256).
    pub tags: Vec<TagPattern>,
    /// The scope to publish in; global when absent.
    #[serde(default)]
    pub scope: Scope,
}

/// Answer of a successful `POST <base>/publish`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The id of the published event.
    pub id: Cursor,
}

/// Why the hub sent `reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResetReason {
    /// The cursor names an epoch the hub does not know (it restarted, or another instance).
    UnknownEpoch,
    /// The events after the cursor have left the replay ring.
    CursorTooOld,
    /// The connection fell too far behind; the hub closes it after this event.
    Lagged,
}

/// Data of the `reset` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    /// Why replay was impossible.
    pub reason: ResetReason,
    /// Where the stream continues from.
    pub cursor: Cursor,
}

/// The JSON body of every error answer of the hub's endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `bad_cursor`.
    pub error: String,
    /// A sentence for humans.
    pub message: String,
}

/// The `Server-Timing` metric naming an event a response's invalidations became.
pub const EVENT_TIMING_METRIC: &str = "lqt-event";

/// The `Server-Timing` header value that names `ids`: one `lqt-event;desc="<cursor>"` entry per
/// event. Browsers expose it to the page that made the request
/// (`PerformanceResourceTiming.serverTiming`), which is how a mutation learns which events its
/// write became without wrapping the server function's client.
///
/// ```
/// use leptos_query_tags::protocol::{event_ids_header, Cursor};
///
/// let ids = [Cursor { epoch: 7, seq: 3 }, Cursor { epoch: 7, seq: 4 }];
/// assert_eq!(event_ids_header(&ids), r#"lqt-event;desc="7-3", lqt-event;desc="7-4""#);
/// ```
pub fn event_ids_header(ids: &[Cursor]) -> String {
    ids.iter()
        .map(|id| format!("{EVENT_TIMING_METRIC};desc=\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parsing_refuses_everything_but_two_integers() {
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1-2-3",
            "a-1",
            "1-b",
            " 1-2",
            "1-2 ",
            "+1-2",
            "1--2",
            "99999999999999999999999-1",
            "18446744073709551616-0",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?} must be refused");
        }
        assert_eq!("0-0".parse::<Cursor>(), Ok(Cursor { epoch: 0, seq: 0 }));
        assert_eq!(
            "18446744073709551615-7".parse::<Cursor>(),
            Ok(Cursor {
                epoch: u64::MAX,
                seq: 7
            })
        );
    }

    #[test]
    fn payloads_have_the_documented_shape() {
        let hello = Hello {
            protocol: 1,
            epoch: 5,
            cursor: Cursor { epoch: 5, seq: 2 },
            heartbeat_ms: 15000,
            identity: None,
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"protocol":1,"epoch":5,"cursor":"5-2","heartbeat_ms":15000}"#
        );
        let hello = Hello {
            identity: Some("00ff".into()),
            ..hello
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"protocol":1,"epoch":5,"cursor":"5-2","heartbeat_ms":15000,"identity":"00ff"}"#
        );
        let reset = Reset {
            reason: ResetReason::CursorTooOld,
            cursor: Cursor { epoch: 5, seq: 9 },
        };
        assert_eq!(
            serde_json::to_string(&reset).unwrap(),
            r#"{"reason":"cursor_too_old","cursor":"5-9"}"#
        );
        let inv: Invalidation =
            serde_json::from_str(r#"{"tags":[["todos","by_id",3],[]]}"#).unwrap();
        assert_eq!(inv.tags.len(), 2);
    }
}
