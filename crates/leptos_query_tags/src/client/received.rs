//! What a tab has received: de-duplication by event id, the resume cursor, and a short log of
//! recent events for tabs that join late.

use super::wire::RawEvent;
use crate::protocol::Cursor;

/// How many event ids above the floor a tab remembers for de-duplication.
const SEEN_CAPACITY: usize = 1024;

/// How many recent events a tab keeps to catch up tabs that join (or come back from the
/// back/forward cache) after them.
pub(crate) const LOG_CAPACITY: usize = 256;

/// Whether an event is new to this tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Apply it.
    New,
    /// Already applied (or older than what the tab has): drop it.
    Duplicate,
    /// From an event log (epoch) this tab has not been following: apply it, and refetch
    /// everything, since what came before it in that log is unknown here.
    NewEpoch,
}

/// A tab's record of the events it has applied.
///
/// Ids are `<epoch>-<seq>`; a stream only carries the events of its scopes, so the seqs it
/// sees have gaps and "the highest id" alone cannot tell a late event from a duplicate. A tab
/// therefore keeps a floor (everything at or below it is done) and the set of ids it applied
/// above it.
#[derive(Debug, Default)]
pub(crate) struct Received {
    floor: Option<Cursor>,
    seen: Seqs,
    /// Epochs this tab moved away from: their late events are covered by the refetch that the
    /// move made, and are dropped.
    retired: Vec<u64>,
    /// Where a reconnection resumes so that this tab misses nothing: every event up to it has
    /// been applied here. Moves only while the tab's events arrive in order (from its own
    /// stream, or relayed once it has caught up).
    resume: Option<Cursor>,
    /// Whether events arriving now arrive in order after `resume`.
    in_order: bool,
    log: Vec<RawEvent>,
    /// The log holds every event after this cursor (`None`: it holds nothing reliable).
    log_floor: Option<Cursor>,
}

/// Sequence numbers in ascending order, without repeats. Ids mostly arrive in order, so an
/// insert is mostly a push at the back. (A sorted `Vec` rather than a `BTreeSet` or a
/// `VecDeque`: the same answers for at most `SEEN_CAPACITY` numbers, whose oldest is dropped
/// by moving 8 KB at most, and no B-tree or ring-buffer code in the wasm.)
#[derive(Debug, Default)]
struct Seqs(Vec<u64>);

impl Seqs {
    fn last(&self) -> Option<&u64> {
        self.0.last()
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    /// Whether `seq` was not there yet.
    fn insert(&mut self, seq: u64) -> bool {
        if self.0.last().is_none_or(|&last| last < seq) {
            self.0.push(seq);
            return true;
        }
        match self.0.binary_search(&seq) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, seq);
                true
            }
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn pop_first(&mut self) -> Option<u64> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }
}

impl Received {
    /// A tab whose page was rendered at `cursor` (nothing to replay before it), or that knows
    /// nothing yet (`None`).
    pub(crate) fn new(cursor: Option<Cursor>) -> Self {
        Received {
            floor: cursor,
            resume: cursor,
            ..Received::default()
        }
    }

    /// Where a stream opened by this tab resumes.
    pub(crate) fn resume(&self) -> Option<Cursor> {
        self.resume
    }

    /// The highest event id applied here.
    pub(crate) fn highest(&self) -> Option<Cursor> {
        let floor = self.floor?;
        Some(match self.seen.last() {
            Some(&seq) => Cursor {
                epoch: floor.epoch,
                seq,
            },
            None => floor,
        })
    }

    /// From now on events arrive in order after [`Received::resume`] (this tab's own stream
    /// said hello at `start`, or a catch-up covered the gap): the log is complete from here.
    pub(crate) fn follow_from(&mut self, start: Cursor) {
        let was_in_order = std::mem::replace(&mut self.in_order, true);
        if self.floor.is_none_or(|f| f.epoch != start.epoch) {
            if let Some(f) = self.floor {
                self.retire(f.epoch);
            }
            self.floor = Some(start);
            self.seen.clear();
        }
        if self
            .resume
            .is_none_or(|r| r.epoch != start.epoch || r < start)
        {
            self.resume = Some(start);
        }
        // A log kept out of order may have gaps: it starts again here.
        if !was_in_order || self.log_floor.is_none_or(|f| f.epoch != start.epoch) {
            self.log.clear();
            self.log_floor = self.resume;
        }
    }

    /// Events may now arrive out of order (this tab is a follower that has not caught up).
    pub(crate) fn lose_order(&mut self) {
        self.in_order = false;
    }

    /// A `reset` moved the stream to `cursor`: everything before it is covered by the refetch
    /// the reset makes.
    pub(crate) fn reset_to(&mut self, cursor: Cursor) {
        if let Some(f) = self.floor {
            if f.epoch != cursor.epoch {
                self.retire(f.epoch);
            }
        }
        self.floor = Some(cursor);
        self.seen.clear();
        self.resume = Some(cursor);
        self.log.clear();
        self.log_floor = Some(cursor);
    }

    fn retire(&mut self, epoch: u64) {
        if !self.retired.contains(&epoch) {
            if self.retired.len() == 8 {
                self.retired.remove(0);
            }
            self.retired.push(epoch);
        }
    }

    /// Decides whether the event with `id` is new here, and records it if so.
    pub(crate) fn accept(&mut self, id: Cursor) -> Verdict {
        let Some(floor) = self.floor else {
            self.floor = Some(Cursor { seq: 0, ..id });
            self.seen.insert(id.seq);
            return Verdict::New;
        };
        if id.epoch != floor.epoch {
            if self.retired.contains(&id.epoch) {
                return Verdict::Duplicate;
            }
            self.retire(floor.epoch);
            self.floor = Some(Cursor { seq: 0, ..id });
            self.seen.clear();
            self.seen.insert(id.seq);
            self.resume = None;
            self.log.clear();
            self.log_floor = None;
            return Verdict::NewEpoch;
        }
        if id.seq <= floor.seq || !self.seen.insert(id.seq) {
            return Verdict::Duplicate;
        }
        if self.seen.len() > SEEN_CAPACITY {
            if let Some(lowest) = self.seen.pop_first() {
                self.floor = Some(Cursor {
                    seq: lowest,
                    ..floor
                });
            }
        }
        Verdict::New
    }

    /// Records that `event` (already accepted) was applied, for the resume cursor and the log.
    pub(crate) fn applied(&mut self, event: &RawEvent) {
        let Some(id) = event.cursor() else { return };
        if !self.in_order {
            return;
        }
        if self.resume.is_none_or(|r| r.epoch == id.epoch && r < id) {
            self.resume = Some(id);
        }
        if self.log_floor.is_some() {
            self.log.push(event.clone());
            if self.log.len() > LOG_CAPACITY {
                let old = self.log.remove(0);
                self.log_floor = old.cursor().or(self.log_floor);
            }
        }
    }

    /// The events after `after` that this tab can vouch for, and whether they are all of them.
    pub(crate) fn since(&self, after: Option<Cursor>) -> (Vec<RawEvent>, bool) {
        let (Some(after), Some(log_floor)) = (after, self.log_floor) else {
            return (self.log.to_vec(), false);
        };
        let complete = self.in_order && after.epoch == log_floor.epoch && after >= log_floor;
        let events = self
            .log
            .iter()
            .filter(|e| {
                e.cursor()
                    .is_some_and(|id| id.epoch != after.epoch || id > after)
            })
            .cloned()
            .collect();
        (events, complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(seq: u64) -> Cursor {
        Cursor { epoch: 7, seq }
    }

    fn inv(seq: u64) -> RawEvent {
        RawEvent {
            name: "invalidate".into(),
            id: c(seq).to_string(),
            data: r#"{"tags":[[]]}"#.into(),
        }
    }

    #[test]
    fn duplicates_are_dropped_whatever_the_order() {
        let mut r = Received::new(Some(c(3)));
        assert_eq!(
            r.accept(c(2)),
            Verdict::Duplicate,
            "at or below the render cursor"
        );
        assert_eq!(r.accept(c(3)), Verdict::Duplicate);
        assert_eq!(r.accept(c(9)), Verdict::New);
        // A late event (a catch-up after a live relay) is still new: seqs have gaps.
        assert_eq!(r.accept(c(5)), Verdict::New);
        assert_eq!(r.accept(c(9)), Verdict::Duplicate);
        assert_eq!(r.accept(c(5)), Verdict::Duplicate);
        assert_eq!(r.highest(), Some(c(9)));
    }

    #[test]
    fn the_seen_set_is_bounded_and_raises_the_floor() {
        let mut r = Received::new(Some(c(0)));
        for seq in 1..=(SEEN_CAPACITY as u64 + 10) {
            assert_eq!(r.accept(c(seq)), Verdict::New);
        }
        assert!(r.seen.len() <= SEEN_CAPACITY);
        assert_eq!(r.accept(c(3)), Verdict::Duplicate);
    }

    #[test]
    fn a_new_epoch_is_applied_once_and_the_old_one_is_retired() {
        let mut r = Received::new(Some(c(4)));
        let other = Cursor { epoch: 8, seq: 1 };
        assert_eq!(r.accept(other), Verdict::NewEpoch);
        assert_eq!(r.accept(other), Verdict::Duplicate);
        assert_eq!(
            r.accept(c(5)),
            Verdict::Duplicate,
            "late events of the old log"
        );
        assert_eq!(r.accept(Cursor { epoch: 8, seq: 2 }), Verdict::New);
    }

    #[test]
    fn resume_moves_only_in_order() {
        let mut r = Received::new(Some(c(2)));
        // A follower that has not caught up: relayed events do not move the resume cursor.
        r.lose_order();
        for seq in [6, 8] {
            r.accept(c(seq));
            r.applied(&inv(seq));
        }
        assert_eq!(r.resume(), Some(c(2)), "events 3 to 5 may be missing here");
        // Caught up: in order from here.
        r.follow_from(c(2));
        r.accept(c(9));
        r.applied(&inv(9));
        assert_eq!(r.resume(), Some(c(9)));
    }

    #[test]
    fn the_log_catches_up_late_tabs_or_says_it_cannot() {
        let mut r = Received::new(Some(c(10)));
        r.follow_from(c(10));
        for seq in [11, 14, 15] {
            assert_eq!(r.accept(c(seq)), Verdict::New);
            r.applied(&inv(seq));
        }
        let (events, complete) = r.since(Some(c(11)));
        assert!(complete);
        assert_eq!(
            events
                .iter()
                .map(|e| e.cursor().unwrap().seq)
                .collect::<Vec<_>>(),
            [14, 15]
        );
        let (_, complete) = r.since(Some(c(9)));
        assert!(!complete, "the log starts at 10");
        let (_, complete) = r.since(None);
        assert!(!complete);
        // Evicting raises the log's floor.
        for seq in 16..(16 + LOG_CAPACITY as u64) {
            r.accept(c(seq));
            r.applied(&inv(seq));
        }
        assert!(!r.since(Some(c(11))).1);
        assert!(r.since(Some(c(100))).1);
    }

    #[test]
    fn reset_moves_everything_to_its_cursor() {
        let mut r = Received::new(Some(c(10)));
        r.follow_from(c(10));
        r.accept(c(12));
        r.applied(&inv(12));
        let moved = Cursor { epoch: 9, seq: 3 };
        r.reset_to(moved);
        assert_eq!(r.resume(), Some(moved));
        assert_eq!(
            r.accept(c(13)),
            Verdict::Duplicate,
            "the old epoch is retired"
        );
        assert_eq!(r.accept(Cursor { epoch: 9, seq: 3 }), Verdict::Duplicate);
        assert_eq!(r.accept(Cursor { epoch: 9, seq: 4 }), Verdict::New);
    }
}
