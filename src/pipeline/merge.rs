//! The order in which a task takes records from its inbound partitions.
//!
//! A task owns partition p of every inbound topic and must interleave them.
//! The rule (Kafka Streams' `max.task.idle.ms`):
//!
//! - Among the partitions that have a record waiting, take the one with the
//!   smallest Kafka timestamp; ties go to topic order, then offset.
//! - Only choose when every other partition either has a record waiting or
//!   is **caught up**: its next offset has reached the high watermark of the
//!   last fetch response (nothing more exists right now), or it reported
//!   end-of-partition. A partition that is **behind** (records exist that
//!   have not arrived yet) is waited for, because one of its records may
//!   come first.
//! - A partition that stays behind for `max_task_idle` is no longer waited
//!   for (an *enforced* choice, counted and logged).
//!
//! On a backlog every partition is either waiting or behind until its end,
//! so the order depends only on the topic contents and a restart derives
//! the same changes. On live data a partition is caught up almost always,
//! so records are taken as they arrive, without waiting for any fetch
//! round trip; what arrives within one fetch is still taken in timestamp
//! order.

use std::time::{Duration, Instant};

/// What one inbound partition of a task looks like at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A record is waiting: its Kafka timestamp and offset.
    Head { timestamp_ms: i64, offset: i64 },
    /// Nothing waiting, and nothing more on the broker as far as the
    /// consumer knows.
    CaughtUp,
    /// Nothing waiting, but the partition has records not yet delivered
    /// (or the consumer does not know yet).
    Behind,
}

/// What the task should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Take the waiting record of this lane.
    Take(usize),
    /// Take this lane's record although another lane is still behind after
    /// `max_task_idle`; `first` is set on the first such choice of an
    /// episode (for the log line).
    Enforced { lane: usize, first: bool },
    /// Nothing can be taken yet. `until`: when waiting for a behind lane
    /// turns into an enforced choice (`None`: nothing is waiting at all).
    Wait { until: Option<Instant> },
}

/// The merge rule with its one piece of memory: since when a record has
/// been kept waiting for a behind lane.
#[derive(Debug)]
pub struct Merge {
    max_idle: Duration,
    blocked_since: Option<Instant>,
    enforcing: bool,
}

impl Merge {
    pub fn new(max_idle: Duration) -> Merge {
        Merge {
            max_idle,
            blocked_since: None,
            enforcing: false,
        }
    }

    /// Decides given the lanes (in topic order); `now` is asked for only
    /// when a lane is behind.
    pub fn choose(&mut self, lanes: &[Lane], now: impl FnOnce() -> Instant) -> Choice {
        let first = lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match *l {
                Lane::Head {
                    timestamp_ms,
                    offset,
                } => Some(((timestamp_ms, i, offset), i)),
                _ => None,
            })
            .min()
            .map(|(_, i)| i);
        if !lanes.contains(&Lane::Behind) {
            self.blocked_since = None;
            self.enforcing = false;
        }
        let Some(lane) = first else {
            return Choice::Wait { until: None };
        };
        if !lanes.contains(&Lane::Behind) {
            return Choice::Take(lane);
        }
        let now = now();
        let since = *self.blocked_since.get_or_insert(now);
        let until = since + self.max_idle;
        if now < until {
            return Choice::Wait { until: Some(until) };
        }
        let first = !self.enforcing;
        self.enforcing = true;
        Choice::Enforced { lane, first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(timestamp_ms: i64, offset: i64) -> Lane {
        Lane::Head {
            timestamp_ms,
            offset,
        }
    }

    #[test]
    fn smallest_timestamp_then_topic_order_then_offset() {
        let mut m = Merge::new(Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(
            m.choose(&[head(5, 0), head(3, 9), head(4, 1)], || now),
            Choice::Take(1)
        );
        assert_eq!(m.choose(&[head(3, 7), head(3, 2)], || now), Choice::Take(0));
        assert_eq!(
            m.choose(&[Lane::CaughtUp, head(8, 2), head(8, 2)], || now),
            Choice::Take(1)
        );
    }

    #[test]
    fn caught_up_lanes_are_not_waited_for() {
        let mut m = Merge::new(Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(
            m.choose(&[Lane::CaughtUp, head(9, 0), Lane::CaughtUp], || now),
            Choice::Take(1)
        );
        assert_eq!(
            m.choose(&[Lane::CaughtUp, Lane::CaughtUp], || now),
            Choice::Wait { until: None }
        );
    }

    #[test]
    fn a_behind_lane_is_waited_for_until_max_idle_then_enforced_once_per_episode() {
        let idle = Duration::from_millis(500);
        let mut m = Merge::new(idle);
        let t0 = Instant::now();
        let lanes = [head(1, 0), Lane::Behind];
        assert_eq!(
            m.choose(&lanes, || t0),
            Choice::Wait {
                until: Some(t0 + idle)
            }
        );
        assert_eq!(
            m.choose(&lanes, || t0 + Duration::from_millis(499)),
            Choice::Wait {
                until: Some(t0 + idle)
            },
            "the clock runs from the first wait, not from each call"
        );
        assert_eq!(
            m.choose(&lanes, || t0 + idle),
            Choice::Enforced {
                lane: 0,
                first: true
            }
        );
        assert_eq!(
            m.choose(&lanes, || t0 + idle * 2),
            Choice::Enforced {
                lane: 0,
                first: false
            }
        );
        // The behind lane delivers: a normal choice ends the episode and the clock.
        let later = t0 + idle * 3;
        assert_eq!(
            m.choose(&[head(1, 1), head(2, 0)], || later),
            Choice::Take(0)
        );
        assert_eq!(
            m.choose(&lanes, || later),
            Choice::Wait {
                until: Some(later + idle)
            }
        );
    }

    #[test]
    fn the_idle_clock_runs_until_no_lane_is_behind() {
        let idle = Duration::from_millis(100);
        let mut m = Merge::new(idle);
        let t0 = Instant::now();
        let _ = m.choose(&[head(1, 0), Lane::Behind], || t0);
        assert_eq!(
            m.choose(&[Lane::CaughtUp, Lane::Behind], || t0 + idle * 5),
            Choice::Wait { until: None }
        );
        // Still behind: the next record does not wait another max_idle.
        assert!(matches!(
            m.choose(&[head(1, 0), Lane::Behind], || t0 + idle * 6),
            Choice::Enforced { lane: 0, .. }
        ));
        // Once it caught up, waiting starts afresh.
        let _ = m.choose(&[Lane::CaughtUp, Lane::CaughtUp], || t0 + idle * 7);
        let t1 = t0 + idle * 8;
        assert_eq!(
            m.choose(&[head(1, 0), Lane::Behind], || t1),
            Choice::Wait {
                until: Some(t1 + idle)
            }
        );
    }
}
