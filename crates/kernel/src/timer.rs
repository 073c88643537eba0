//! The kernel's timer queue: due timers fire in (time, insertion sequence) order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Time;

/// Names one scheduled timer, so its owner can cancel it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimerKey {
    at: Time,
    seq: u64,
}

/// Timers ordered by due time, ties broken by the order they were scheduled in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "TimerList<T>", from = "TimerList<T>", bound(serialize = "T: Clone + Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct TimerQueue<T> {
    next_seq: u64,
    due: BTreeMap<(Time, u64), T>,
}

/// The serialized form of a [`TimerQueue`]: a list, since JSON maps need string keys.
#[derive(Serialize, Deserialize)]
struct TimerList<T> {
    next_seq: u64,
    due: Vec<(Time, u64, T)>,
}

impl<T> From<TimerQueue<T>> for TimerList<T> {
    fn from(q: TimerQueue<T>) -> Self {
        TimerList { next_seq: q.next_seq, due: q.due.into_iter().map(|((at, seq), t)| (at, seq, t)).collect() }
    }
}

impl<T> From<TimerList<T>> for TimerQueue<T> {
    fn from(l: TimerList<T>) -> Self {
        TimerQueue { next_seq: l.next_seq, due: l.due.into_iter().map(|(at, seq, t)| ((at, seq), t)).collect() }
    }
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue { next_seq: 0, due: BTreeMap::new() }
    }
}

impl<T> TimerQueue<T> {
    /// Schedules `timer` to fire at `at`.
    pub fn schedule(&mut self, at: Time, timer: T) -> TimerKey {
        let key = TimerKey { at, seq: self.next_seq };
        self.due.insert((at, self.next_seq), timer);
        self.next_seq += 1;
        key
    }
    /// Removes a timer before it fires; `None` if it already fired or was cancelled.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.due.remove(&(key.at, key.seq))
    }
    /// Whether the timer `key` names is still pending.
    pub fn contains(&self, key: TimerKey) -> bool {
        self.due.contains_key(&(key.at, key.seq))
    }
    /// Removes and returns the earliest timer due at or before `to`.
    pub fn pop_due(&mut self, to: Time) -> Option<(Time, T)> {
        let (&(at, _), _) = self.due.first_key_value()?;
        if at > to {
            return None;
        }
        self.due.pop_first().map(|((at, _), t)| (at, t))
    }
    /// When the earliest timer is due, if any is pending.
    pub fn next_due(&self) -> Option<Time> {
        self.due.first_key_value().map(|(&(at, _), _)| at)
    }
    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.due.len()
    }
    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_time_then_sequence_order() {
        let mut q = TimerQueue::default();
        q.schedule(Time(20), "b");
        q.schedule(Time(10), "a");
        q.schedule(Time(20), "c");
        assert_eq!(q.pop_due(Time(5)), None);
        assert_eq!(q.pop_due(Time(100)), Some((Time(10), "a")));
        assert_eq!(q.pop_due(Time(100)), Some((Time(20), "b")));
        assert_eq!(q.pop_due(Time(100)), Some((Time(20), "c")));
        assert!(q.is_empty());
    }

    #[test]
    fn a_cancelled_timer_never_fires() {
        let mut q = TimerQueue::default();
        let a = q.schedule(Time(10), "a");
        q.schedule(Time(20), "b");
        assert!(q.contains(a));
        assert_eq!(q.cancel(a), Some("a"));
        assert_eq!(q.cancel(a), None);
        assert!(!q.contains(a));
        assert_eq!(q.pop_due(Time(100)), Some((Time(20), "b")));
    }
}
