//! Rate limiting for repeated log lines: an error that repeats on every
//! record (a partition in trouble) is logged once per interval, with the
//! number of repeats that were not logged.

use std::time::{Duration, Instant};

/// Lets one line through per `every`.
#[derive(Debug)]
pub struct LogThrottle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    pub fn new(every: Duration) -> LogThrottle {
        LogThrottle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this occurrence should be logged (`n` earlier ones
    /// were not), `None` when it should be dropped.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_those_dropped() {
        let mut t = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.allow(t0), Some(0));
        assert_eq!(t.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(t.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(t.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(t.allow(t0 + Duration::from_secs(11)), None);
    }
}
