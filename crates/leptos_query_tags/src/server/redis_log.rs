//! The event log in Redis Streams, shared by every instance of an application (feature `redis`).
//!
//! Data model (learned from Centrifugo's Redis engine): under one hash tag `{prefix}`, so that a
//! Redis Cluster keeps both keys in one slot,
//! - `{prefix}:meta`, a hash: `epoch` (created with the stream: Redis' clock in milliseconds) and
//!   `seq` (the last sequence number);
//! - `{prefix}:stream`, a stream whose entry ids are `<seq>-0`, each with fields `e` (the epoch),
//!   `s` (the scope) and `d` (the invalidation's JSON).
//!
//! Appending is one Lua script: create the epoch when the meta hash is missing (Redis restarted
//! empty, or flushed) and drop whatever stream is left, `HINCRBY seq`, `XADD <seq>-0` with
//! `MAXLEN ~ replay_capacity`. Ids stay `<epoch>-<seq>` on the wire, dense and identical on every
//! instance, so a browser can resume on any of them.
//!
//! This module is the log alone; following it and fanning out per instance is the hub's job
//! (issue 10: the hub's Redis backend builds on this).

use crate::protocol::{Cursor, Scope};
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Script, Value};
use std::time::Duration;

/// Lua: reads the epoch, creating it from Redis' clock (milliseconds) if the meta hash has none,
/// and dropping whatever stream is left without one.
macro_rules! epoch_lua {
    () => {
        r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
"#
    };
}

/// Returns `{epoch, seq}`, creating the epoch if missing.
const ENSURE: &str = concat!(
    epoch_lua!(),
    "return {epoch, tostring(redis.call('HGET', KEYS[1], 'seq'))}\n"
);

/// Appends events: `ARGV` = maxlen, then scope and data of each. Returns `{epoch, first seq}`.
const APPEND: &str = concat!(
    epoch_lua!(),
    r#"
local n = (#ARGV - 1) / 2
local first = redis.call('HINCRBY', KEYS[1], 'seq', n) - n + 1
for i = 0, n - 1 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], string.format('%d-0', first + i),
    'e', epoch, 's', ARGV[2 + 2 * i], 'd', ARGV[3 + 2 * i])
end
return {epoch, string.format('%d', first)}
"#
);

/// One event read from the log.
pub(crate) use super::backend::LogEntry as Entry;

/// What reading after a cursor found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Every event after the cursor (possibly none), in order.
    Entries(Vec<Entry>),
    /// The cursor is of another epoch, or ahead of the log.
    UnknownEpoch,
    /// Events after the cursor were trimmed away.
    TooOld,
}

/// Why the log could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis answered something the log does not expect: {0}")]
    Unexpected(String),
}

/// The shared event log.
#[derive(Clone)]
pub(crate) struct RedisLog {
    /// For appends and reads: reconnects by itself.
    commands: ConnectionManager,
    client: Client,
    meta: String,
    stream: String,
    replay_capacity: usize,
    ensure: Script,
    append: Script,
}

impl std::fmt::Debug for RedisLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLog")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn cursor_of(value: &Value) -> Result<Cursor, LogError> {
    let unexpected = || LogError::Unexpected(format!("{value:?}"));
    let Value::Array(parts) = value else {
        return Err(unexpected());
    };
    let [epoch, seq] = &parts[..] else {
        return Err(unexpected());
    };
    let parse = |v: &Value| text(v).and_then(|t| t.parse::<u64>().ok());
    Ok(Cursor {
        epoch: parse(epoch).ok_or_else(unexpected)?,
        seq: parse(seq).ok_or_else(unexpected)?,
    })
}

/// Parses `[[id, [field, value, ...]], ...]` (XRANGE, or one stream of XREAD) into entries.
fn entries(value: &Value) -> Result<Vec<Entry>, LogError> {
    let unexpected = || LogError::Unexpected(format!("{value:?}"));
    let Value::Array(items) = value else {
        return Err(unexpected());
    };
    items
        .iter()
        .map(|item| {
            let Value::Array(pair) = item else {
                return Err(unexpected());
            };
            let [id, fields] = &pair[..] else {
                return Err(unexpected());
            };
            let seq = text(id)
                .and_then(|id| id.strip_suffix("-0").and_then(|s| s.parse::<u64>().ok()))
                .ok_or_else(unexpected)?;
            let Value::Array(fields) = fields else {
                return Err(unexpected());
            };
            let (mut epoch, mut scope, mut data) = (None, None, None);
            for kv in fields.chunks(2) {
                match (
                    kv.first().and_then(text).as_deref(),
                    kv.get(1).and_then(text),
                ) {
                    (Some("e"), Some(v)) => epoch = v.parse::<u64>().ok(),
                    (Some("s"), Some(v)) => scope = Scope::new(v).ok(),
                    (Some("d"), Some(v)) => data = Some(v),
                    _ => {}
                }
            }
            Ok(Entry {
                id: Cursor {
                    epoch: epoch.ok_or_else(unexpected)?,
                    seq,
                },
                scope: scope.ok_or_else(unexpected)?,
                data: data.ok_or_else(unexpected)?,
            })
        })
        .collect()
}

impl RedisLog {
    /// Connects to `url` (`redis://host:port/db`), keys under the hash tag `{prefix}`.
    pub(crate) async fn connect(
        url: &str,
        prefix: &str,
        replay_capacity: usize,
    ) -> Result<RedisLog, LogError> {
        let client = Client::open(url)?;
        // No response timeout: a Redis that is paused (or slow) answers later, and retrying an
        // append that Redis has queued would publish it twice. A dead Redis fails the
        // connection at once, and the connection manager reconnects.
        let config = redis::aio::ConnectionManagerConfig::new().set_response_timeout(None);
        let commands = client.get_connection_manager_with_config(config).await?;
        Ok(RedisLog {
            commands,
            client,
            meta: format!("{{{prefix}}}:meta"),
            stream: format!("{{{prefix}}}:stream"),
            replay_capacity: replay_capacity.max(1),
            ensure: Script::new(ENSURE),
            append: Script::new(APPEND),
        })
    }

    /// A connection of its own for `XREAD BLOCK`: no response timeout (the crate's default
    /// 500 ms would cut every block short), and no other command waits behind a block.
    pub(crate) async fn follower(&self) -> Result<MultiplexedConnection, LogError> {
        let config = AsyncConnectionConfig::new().set_response_timeout(None);
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// The log's epoch and last sequence number, creating the epoch if there is none.
    pub(crate) async fn head(&self) -> Result<Cursor, LogError> {
        let mut conn = self.commands.clone();
        let value: Value = self
            .ensure
            .key(&self.meta)
            .key(&self.stream)
            .invoke_async(&mut conn)
            .await?;
        cursor_of(&value)
    }

    /// Appends an event of `scope` carrying `data` (an invalidation's JSON); returns its id.
    #[cfg(test)]
    pub(crate) async fn append(&self, scope: &Scope, data: &str) -> Result<Cursor, LogError> {
        self.append_all(&[(scope.clone(), data.to_owned())]).await
    }

    /// Appends `events` in order, in one round trip; returns the id of the first (the others
    /// follow it densely).
    pub(crate) async fn append_all(&self, events: &[(Scope, String)]) -> Result<Cursor, LogError> {
        let mut conn = self.commands.clone();
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(&self.meta)
            .key(&self.stream)
            .arg(self.replay_capacity);
        for (scope, data) in events {
            invocation.arg(scope.as_str()).arg(data.as_str());
        }
        let value: Value = invocation.invoke_async(&mut conn).await?;
        cursor_of(&value)
    }

    /// Every event after `from`, if the log still holds them all.
    pub(crate) async fn read_after(&self, from: Cursor) -> Result<Read, LogError> {
        let head = self.head().await?;
        if from.epoch != head.epoch || from.seq > head.seq {
            return Ok(Read::UnknownEpoch);
        }
        if from.seq == head.seq {
            return Ok(Read::Entries(Vec::new()));
        }
        let mut conn = self.commands.clone();
        let value: Value = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(format!("{}-0", from.seq + 1))
            .arg(format!("{}-0", head.seq))
            .query_async(&mut conn)
            .await?;
        let read = entries(&value)?;
        // Dense ids: the first must follow the cursor, or what was between is gone.
        match read.first() {
            Some(first) if first.id.seq == from.seq + 1 => Ok(Read::Entries(read)),
            _ => Ok(Read::TooOld),
        }
    }

    /// Waits up to `block` for events after `after` on a follower connection. An empty answer
    /// means the block timed out. Entries carry their own epoch: after a flush, the stream's new
    /// entries are of another epoch than `after`.
    pub(crate) async fn follow(
        &self,
        follower: &mut MultiplexedConnection,
        after: Cursor,
        block: Duration,
    ) -> Result<Vec<Entry>, LogError> {
        let value: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1024)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(format!("{}-0", after.seq))
            .query_async(follower)
            .await?;
        let streams = match value {
            Value::Nil => return Ok(Vec::new()),
            Value::Array(streams) => streams,
            Value::Map(streams) => streams
                .into_iter()
                .map(|(k, v)| Value::Array(vec![k, v]))
                .collect(),
            other => return Err(LogError::Unexpected(format!("{other:?}"))),
        };
        let mut out = Vec::new();
        for stream in &streams {
            let Value::Array(pair) = stream else {
                return Err(LogError::Unexpected(format!("{stream:?}")));
            };
            if let Some(items) = pair.get(1) {
                out.extend(entries(items)?);
            }
        }
        Ok(out)
    }
}

// The integration tests' helper: a `redis-server` of its own per test.
#[cfg(test)]
#[path = "../../tests/support/redis.rs"]
mod test_redis;

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_redis::TestRedis;

    fn scope(s: &str) -> Scope {
        Scope::new(s).unwrap()
    }

    #[tokio::test]
    async fn appends_are_dense_and_shared_by_every_instance() {
        let redis = TestRedis::start().await;
        let a = RedisLog::connect(&redis.url, "qt", 100).await.unwrap();
        let b = RedisLog::connect(&redis.url, "qt", 100).await.unwrap();
        let start = a.head().await.unwrap();
        assert_eq!(start.seq, 0);
        assert!(
            start.epoch > 1_700_000_000_000,
            "milliseconds of Redis' clock: {start:?}"
        );
        let mut ids = Vec::new();
        for i in 0..10 {
            let log = if i % 2 == 0 { &a } else { &b };
            ids.push(
                log.append(&scope("user:1"), &format!("{{\"n\":{i}}}"))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(
            ids.iter().map(|c| c.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert!(ids.iter().all(|c| c.epoch == start.epoch));
        assert_eq!(b.head().await.unwrap(), ids[9]);

        // Either instance reads exactly what followed a cursor.
        let Read::Entries(read) = b.read_after(ids[6]).await.unwrap() else {
            panic!()
        };
        assert_eq!(
            read.iter().map(|e| e.id).collect::<Vec<_>>(),
            ids[7..].to_vec()
        );
        assert_eq!(read[0].data, "{\"n\":7}");
        assert_eq!(read[0].scope, scope("user:1"));
        assert_eq!(
            a.read_after(ids[9]).await.unwrap(),
            Read::Entries(Vec::new())
        );
        assert_eq!(
            a.read_after(Cursor {
                epoch: start.epoch + 1,
                seq: 1
            })
            .await
            .unwrap(),
            Read::UnknownEpoch
        );
        assert_eq!(
            a.read_after(Cursor {
                epoch: start.epoch,
                seq: 11
            })
            .await
            .unwrap(),
            Read::UnknownEpoch,
            "ahead of the log"
        );

        // A follower gets what comes after its cursor, and an empty answer on timeout.
        let mut follower = a.follower().await.unwrap();
        let got = a
            .follow(&mut follower, ids[8], Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[9]]);
        let none = a
            .follow(&mut follower, ids[9], Duration::from_millis(50))
            .await
            .unwrap();
        assert!(none.is_empty());
        // A block longer than the crate's default response timeout (500 ms) is not cut short,
        // and an append during it wakes it.
        let waiting = {
            let a = a.clone();
            let after = ids[9];
            tokio::spawn(
                async move { a.follow(&mut follower, after, Duration::from_secs(5)).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(700)).await;
        let next = b.append(&scope("global"), "{}").await.unwrap();
        let got = waiting.await.unwrap().unwrap();
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![next]);
    }

    #[tokio::test]
    async fn a_trimmed_cursor_is_too_old_and_a_flush_is_a_new_epoch() {
        let redis = TestRedis::start().await;
        let log = RedisLog::connect(&redis.url, "qt", 10).await.unwrap();
        let first = log.append(&scope("global"), "{}").await.unwrap();
        for _ in 0..500 {
            log.append(&scope("global"), "{}").await.unwrap();
        }
        // `MAXLEN ~ 10` keeps at least 10, far fewer than 501.
        assert_eq!(log.read_after(first).await.unwrap(), Read::TooOld);
        let head = log.head().await.unwrap();
        assert_eq!(head.seq, 501);
        let recent = Cursor {
            epoch: head.epoch,
            seq: head.seq - 5,
        };
        let Read::Entries(read) = log.read_after(recent).await.unwrap() else {
            panic!()
        };
        assert_eq!(read.len(), 5);

        // Redis loses everything (restart without persistence, FLUSHALL): a new epoch, ids
        // from 1 again, and the old cursors are of an unknown epoch.
        let mut conn = Client::open(redis.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let fresh = log.append(&scope("global"), "{}").await.unwrap();
        assert_eq!(fresh.seq, 1);
        assert_ne!(fresh.epoch, head.epoch);
        assert_eq!(log.read_after(recent).await.unwrap(), Read::UnknownEpoch);
    }
}
