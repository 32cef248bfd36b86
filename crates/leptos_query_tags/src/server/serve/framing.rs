//! Strict HTTP/1.1 request framing for the lean stream listener.
//!
//! The listener follows the requests of a connection beside hyper, so that it can take an
//! event-stream request over at a request boundary. Two parsers on one byte stream are only
//! safe if they agree on where every request starts; this one agrees with hyper by refusing
//! everything hyper might read differently. It accepts a request head only when it is
//! unambiguous under one strict reading of RFC 9112:
//!
//! - every line ends with CRLF (a bare LF or CR anywhere refuses), no empty lines before the
//!   request line, no obs-fold;
//! - `token SP origin-form SP HTTP/1.1` (not `CONNECT`), header names are tokens followed directly by `:`,
//!   values hold no control characters;
//! - at most one `Content-Length` of plain digits; no `Transfer-Encoding`, `Upgrade` or
//!   `Expect`; `Connection` absent or exactly `keep-alive`;
//! - at most [`MAX_HEADERS`] headers and [`MAX_HEAD`] bytes;
//! - and httparse (hyper's parser) reads the same head, ending at the same byte.
//!
//! A refused head makes the listener stop following the connection for good: hyper alone
//! serves it, exactly as without the listener. The head's end and its body length come from
//! the same parse ([`parse_head`]).
//!
//! This file depends on nothing but `std` and `httparse`, so that the differential fuzz target
//! (`fuzz/fuzz_targets/listener_framing.rs`) includes it as it is.

/// Largest request head followed; a longer one is refused.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Most request headers followed; more are refused.
pub(crate) const MAX_HEADERS: usize = 64;
/// Longest `Content-Length` value accepted (digits): beyond 10^15 bytes nobody is uploading.
const MAX_LENGTH_DIGITS: usize = 15;

/// A request head the strict framing accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head<'a> {
    /// Length of the head, blank line included.
    pub(crate) len: usize,
    /// The body length that follows (`Content-Length`, else 0).
    pub(crate) body: u64,
    /// The method, as sent.
    pub(crate) method: &'a [u8],
    /// The request target (origin-form), as sent.
    pub(crate) target: &'a [u8],
}

/// What [`parse_head`] made of the bytes at a request boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parse<'a> {
    /// No blank line yet, nothing refused so far: read more.
    Incomplete,
    /// Not a head the framing follows, with the reason (for traces and tests).
    Refused(&'static str),
    /// A complete head.
    Complete(Head<'a>),
}

fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Field values: visible ASCII, space, tab and obs-text; never a control character.
fn is_field_value(s: &[u8]) -> bool {
    s.iter()
        .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The next line of `buf` from `start`, without its CRLF, and where the line after it starts.
/// `Err` refuses the head; `Ok(None)` means the line is not complete yet.
fn line(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, &'static str> {
    let rest = &buf[start..];
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        // A CR must be the last byte read so far (its LF still to come).
        return match rest.iter().position(|&b| b == b'\r') {
            Some(cr) if cr + 1 < rest.len() => Err("bare CR"),
            _ => Ok(None),
        };
    };
    if lf == 0 || rest[lf - 1] != b'\r' {
        return Err("bare LF");
    }
    let content = &rest[..lf - 1];
    if content.contains(&b'\r') {
        return Err("bare CR");
    }
    Ok(Some((content, start + lf + 1)))
}

/// Parses the request head at the start of `buf` strictly (see the module docs).
pub(crate) fn parse_head(buf: &[u8]) -> Parse<'_> {
    match strict(buf) {
        Ok(Some(head)) => {
            // Belt and braces: hyper's own parser must end the head at the same byte.
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[..head.len]) {
                Ok(httparse::Status::Complete(len)) if len == head.len => Parse::Complete(head),
                _ => Parse::Refused("httparse reads the head differently"),
            }
        }
        Ok(None) if buf.len() >= MAX_HEAD => Parse::Refused("head too large"),
        Ok(None) => Parse::Incomplete,
        Err(reason) => Parse::Refused(reason),
    }
}

fn strict(buf: &[u8]) -> Result<Option<Head<'_>>, &'static str> {
    let limit = &buf[..buf.len().min(MAX_HEAD)];
    let Some((request_line, mut at)) = line(limit, 0)? else {
        return Ok(None);
    };
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if !is_token(method) {
        return Err("malformed method");
    }
    if method == b"CONNECT" {
        // After a CONNECT, hyper treats the connection as a tunnel: nothing after it is a
        // request, whatever the target looks like (found by the differential fuzzer).
        return Err("CONNECT");
    }
    if !target.starts_with(b"/") || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err("not an origin-form target");
    }
    if version != b"HTTP/1.1" {
        return Err("not HTTP/1.1");
    }
    let mut body = None::<u64>;
    let mut headers = 0;
    loop {
        let Some((field, next)) = line(limit, at)? else {
            return Ok(None);
        };
        at = next;
        if field.is_empty() {
            return Ok(Some(Head {
                len: at,
                body: body.unwrap_or(0),
                method,
                target,
            }));
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Err("too many headers");
        }
        if matches!(field[0], b' ' | b'\t') {
            return Err("obs-fold");
        }
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Err("header without a colon");
        };
        let (name, value) = (&field[..colon], trim_ows(&field[colon + 1..]));
        if !is_token(name) || !is_field_value(value) {
            return Err("malformed header");
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if body.is_some() {
                return Err("more than one Content-Length");
            }
            if value.is_empty()
                || value.len() > MAX_LENGTH_DIGITS
                || !value.iter().all(u8::is_ascii_digit)
            {
                return Err("malformed Content-Length");
            }
            body = Some(value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')));
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err("Transfer-Encoding");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            return Err("Upgrade");
        } else if name.eq_ignore_ascii_case(b"expect") {
            return Err("Expect");
        } else if name.eq_ignore_ascii_case(b"connection")
            && !value.eq_ignore_ascii_case(b"keep-alive")
        {
            return Err("Connection other than keep-alive");
        }
    }
}

/// Where the client is in its stream of requests, as far as the listener follows it.
#[derive(Debug)]
enum State {
    /// Inside a request head that hyper is already reading; empty at a request boundary.
    Head(Vec<u8>),
    /// Inside a request body with this many bytes left.
    Body(u64),
    /// Not followed any more: hyper alone serves the connection.
    PassThrough,
    /// A stream request was taken over.
    Taken,
}

/// What to do with the bytes held at a request boundary.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not enough for a decision: read more.
    NeedMore,
    /// Give the held bytes to hyper (and [`Tracker::follow`] them).
    Release,
    /// The held bytes are exactly one plain stream request: the listener serves it.
    Take,
}

/// Follows the request framing of one connection beside hyper.
#[derive(Debug)]
pub(crate) struct Tracker {
    state: State,
}

impl Tracker {
    pub(crate) fn new() -> Tracker {
        Tracker {
            state: State::Head(Vec::new()),
        }
    }

    /// At a request boundary, where the next bytes may be held back from hyper.
    pub(crate) fn at_boundary(&self) -> bool {
        matches!(&self.state, State::Head(seen) if seen.is_empty())
    }

    /// Whether the connection is still followed (neither handed to hyper nor taken).
    pub(crate) fn following(&self) -> bool {
        matches!(self.state, State::Head(_) | State::Body(_))
    }

    /// Decides about `held`, the bytes read at a request boundary. `Take` only when they are
    /// exactly one stream request (`GET` of `events_path`, no body, nothing after it) and
    /// `hyper_idle` says hyper has finished every earlier response.
    pub(crate) fn decide(&mut self, held: &[u8], events_path: &[u8], hyper_idle: bool) -> Decision {
        debug_assert!(self.at_boundary());
        match parse_head(held) {
            Parse::Incomplete => Decision::NeedMore,
            Parse::Refused(_) => Decision::Release,
            Parse::Complete(head) => {
                if hyper_idle && head.len == held.len() && is_stream_request(&head, events_path) {
                    self.state = State::Taken;
                    Decision::Take
                } else {
                    Decision::Release
                }
            }
        }
    }

    /// Follows `bytes`, which hyper is about to read; calls `on_head` for every complete
    /// request head in them. Stops following at the first head it refuses.
    pub(crate) fn follow(&mut self, mut bytes: &[u8], mut on_head: impl FnMut(&Head<'_>)) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::PassThrough | State::Taken => return,
                State::Body(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::Head(seen) => {
                    let before = seen.len();
                    // Never more than a head may hold: past that, `parse_head` refuses.
                    let room = MAX_HEAD.saturating_sub(before);
                    seen.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    match parse_head(seen) {
                        Parse::Incomplete => return,
                        Parse::Refused(_) => {
                            self.state = State::PassThrough;
                            return;
                        }
                        Parse::Complete(head) => {
                            on_head(&head);
                            bytes = &bytes[head.len - before..];
                            self.state = if head.body == 0 {
                                State::Head(Vec::new())
                            } else {
                                State::Body(head.body)
                            };
                        }
                    }
                }
            }
        }
    }
}

/// A plain stream request: `GET <events_path>` with or without a query, and no body.
pub(crate) fn is_stream_request(head: &Head<'_>, events_path: &[u8]) -> bool {
    head.method == b"GET"
        && head.body == 0
        && head.target.starts_with(events_path)
        && matches!(head.target.get(events_path.len()), None | Some(b'?'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &[u8] = b"/api/query-tags/events";

    fn refused(head: &str) -> &'static str {
        match parse_head(head.as_bytes()) {
            Parse::Refused(reason) => reason,
            other => panic!("{head:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn accepts_plain_heads() {
        let head = "GET /api/query-tags/events?scope=user:1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1-2\r\nConnection: keep-alive\r\n\r\n";
        match parse_head(head.as_bytes()) {
            Parse::Complete(h) => {
                assert_eq!(h.len, head.len());
                assert_eq!(h.body, 0);
                assert!(is_stream_request(&h, EVENTS));
            }
            other => panic!("{other:?}"),
        }
        match parse_head(b"POST /f HTTP/1.1\r\nContent-Length:  12 \r\n\r\nbody") {
            Parse::Complete(h) => assert_eq!((h.len, h.body, h.method), (42, 12, &b"POST"[..])),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_head(b""), Parse::Incomplete);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r"), Parse::Incomplete);
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Parse::Incomplete
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r"),
            Parse::Incomplete
        );
    }

    #[test]
    fn refuses_what_hyper_might_read_otherwise() {
        assert_eq!(refused("GET / HTTP/1.1\n\n"), "bare LF");
        assert_eq!(refused("GET / HTTP/1.1\r\n\n"), "bare LF");
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\n\r\n"), "bare LF");
        assert_eq!(refused("GET / HTTP/1.1\rHost: x\r\n\r\n"), "bare CR");
        assert_eq!(refused("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"), "bare CR");
        assert_eq!(
            refused("\r\nGET / HTTP/1.1\r\n\r\n"),
            "malformed request line"
        );
        assert_eq!(refused("GET / HTTP/1.0\r\n\r\n"), "not HTTP/1.1");
        assert_eq!(refused("GET  / HTTP/1.1\r\n\r\n"), "malformed request line");
        assert_eq!(
            refused("GET http://x/ HTTP/1.1\r\n\r\n"),
            "not an origin-form target"
        );
        assert_eq!(
            refused("OPTIONS * HTTP/1.1\r\n\r\n"),
            "not an origin-form target"
        );
        assert_eq!(refused("CONNECT x:1 HTTP/1.1\r\n\r\n"), "CONNECT");
        assert_eq!(
            refused("CONNECT /api/query-tags/events HTTP/1.1\r\n\r\n"),
            "CONNECT"
        );
        assert_eq!(
            refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            "not an origin-form target"
        );
        assert_eq!(
            refused("GET /\u{e9} HTTP/1.1\r\n\r\n"),
            "not an origin-form target"
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), "obs-fold");
        assert_eq!(
            refused("GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\n"),
            "malformed header"
        );
        assert_eq!(
            refused("GET / HTTP/1.1\r\nA: \0\r\n\r\n"),
            "malformed header"
        );
        assert_eq!(
            refused("GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            "header without a colon"
        );
        for cl in [
            "Content-Length: 1\r\nContent-Length: 1",
            "content-length: 1\r\nContent-Length: 2",
        ] {
            assert_eq!(
                refused(&format!("POST / HTTP/1.1\r\n{cl}\r\n\r\n")),
                "more than one Content-Length"
            );
        }
        for cl in ["+1", "1,1", "0x10", "", "1 1", "9999999999999999"] {
            assert_eq!(
                refused(&format!("POST / HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n")),
                "malformed Content-Length",
                "{cl:?}"
            );
        }
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "Transfer-Encoding"
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
            "Transfer-Encoding"
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"), "Upgrade");
        assert_eq!(
            refused("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"),
            "Expect"
        );
        assert_eq!(
            refused("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            "Connection other than keep-alive"
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(
            refused(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            "too many headers"
        );
        let long = format!("GET / HTTP/1.1\r\nx: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(refused(&long), "head too large");
    }

    #[test]
    fn decides_only_on_one_plain_stream_request() {
        let stream = b"GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\n\r\n";
        let decide = |held: &[u8], idle| Tracker::new().decide(held, EVENTS, idle);
        assert_eq!(decide(stream, true), Decision::Take);
        assert_eq!(decide(stream, false), Decision::Release, "hyper still busy");
        assert_eq!(decide(&stream[..20], true), Decision::NeedMore);
        let mut pipelined = stream.to_vec();
        pipelined.extend_from_slice(b"G");
        assert_eq!(decide(&pipelined, true), Decision::Release);
        assert_eq!(
            decide(b"HEAD /api/query-tags/events HTTP/1.1\r\n\r\n", true),
            Decision::Release
        );
        assert_eq!(
            decide(b"GET /api/query-tags/eventsx HTTP/1.1\r\n\r\n", true),
            Decision::Release
        );
        assert_eq!(
            decide(b"GET /api/query-tags/events/ HTTP/1.1\r\n\r\n", true),
            Decision::Release
        );
        assert_eq!(
            decide(
                b"GET /api/query-tags/events HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
                true
            ),
            Decision::Release
        );
        assert_eq!(
            decide(b"GET /api/query-tags/events HTTP/1.1\n\n", true),
            Decision::Release
        );
    }

    #[test]
    fn follows_bodies_and_stops_at_refused_heads() {
        let mut tracker = Tracker::new();
        let mut heads = Vec::new();
        let input =
            b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\nGET /c HT";
        // Split anywhere: the same heads come out.
        for split in 0..input.len() {
            let mut t = Tracker::new();
            let mut h = Vec::new();
            t.follow(&input[..split], |head| h.push(head.target.to_vec()));
            t.follow(&input[split..], |head| h.push(head.target.to_vec()));
            assert_eq!(h, vec![b"/a".to_vec(), b"/b".to_vec()], "split at {split}");
            assert!(t.following() && !t.at_boundary());
        }
        tracker.follow(input, |head| heads.push(head.len));
        tracker.follow(b"TP/1.1\r\n\r\n", |head| heads.push(head.len));
        assert_eq!(heads, vec![39, 19, 19]);
        assert!(tracker.at_boundary());
        // The smuggling probe of the security issue: a bare-LF head, then a POST whose body
        // looks like a stream request. The bare LF ends the following for good.
        tracker.follow(
            b"GET / HTTP/1.1\n\nPOST /f HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
            |_| panic!("nothing after a refused head is followed"),
        );
        assert!(!tracker.following());
    }
}
