//! The replay's horizon: how far ahead of the event times already replayed
//! an event may lie. A replay has no wall clock to check skew against, yet
//! one event dated in the year 2100 would move the task's watermark there,
//! recycle every lead by decay and make every later event `late`. The
//! horizon refuses such an event instead, deterministically: it depends on
//! the input alone.

use crate::codec::{format_rfc3339_ms, DecodeError};

/// Default `--max-future`: 7 days. Far more than the gaps of a busy site's
/// history, and an event that much ahead decays scores by at most 15%
/// (30-day half-life) should it be a clock error after all.
pub const DEFAULT_MAX_FUTURE_MS: i64 = 7 * 86_400_000;

/// How many valid lines at the start of the input set the first reference
/// time (their median), so that a bogus first event cannot set it.
pub const ANCHOR_EVENTS: usize = 15;

/// The reference time an event is checked against: the newest event time
/// accepted so far, and never less than the anchor (the median time of the
/// first [`ANCHOR_EVENTS`] valid lines).
#[derive(Debug, Clone)]
pub struct Horizon {
    max_ahead_ms: Option<i64>,
    newest_ms: Option<i64>,
}

impl Horizon {
    /// A horizon `max_ahead_ms` after the reference time (`None`: off),
    /// starting at the median of `first_times` (the event times of the
    /// first valid lines, in any order; the lower median for an even count).
    pub fn new(max_ahead_ms: Option<i64>, first_times: &mut [i64]) -> Horizon {
        first_times.sort_unstable();
        let anchor = match first_times.len() {
            0 => None,
            n => Some(first_times[(n - 1) / 2]),
        };
        Horizon {
            max_ahead_ms,
            newest_ms: anchor,
        }
    }

    /// Refuses an event time more than the horizon after the reference time,
    /// naming both.
    pub fn check(&self, field: &'static str, occurred_at_ms: i64) -> Result<(), DecodeError> {
        let (Some(max), Some(newest)) = (self.max_ahead_ms, self.newest_ms) else {
            return Ok(());
        };
        let ahead = occurred_at_ms.saturating_sub(newest);
        if ahead <= max {
            return Ok(());
        }
        Err(DecodeError::new(
            field,
            format!(
                "{} is too far in the future: {} after the newest event replayed so far ({}), beyond the --max-future horizon of {}",
                format_rfc3339_ms(occurred_at_ms),
                about(ahead),
                format_rfc3339_ms(newest),
                human_ms(max)
            ),
        ))
    }

    /// Moves the reference time to an accepted event's time, if newer.
    pub fn accept(&mut self, occurred_at_ms: i64) {
        self.newest_ms = Some(
            self.newest_ms
                .map_or(occurred_at_ms, |n| n.max(occurred_at_ms)),
        );
    }
}

/// A positive duration, roughly, for messages (`26722.6 days`, `3.5 hours`).
fn about(ms: i64) -> String {
    let ms = ms as f64;
    if ms >= 86_400_000.0 {
        format!("{:.1} days", ms / 86_400_000.0)
    } else if ms >= 3_600_000.0 {
        format!("{:.1} hours", ms / 3_600_000.0)
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// A duration in the largest unit that writes it exactly (`7d`, `36h`,
/// `90s`, `1500ms`): how `--max-future` is written.
pub fn human_ms(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses a `--max-future` value: a whole number with a unit (`ms`, `s`,
/// `m`, `h`, `d`, `w`), or `off`.
pub fn parse_max_future(s: &str) -> Result<Option<i64>, String> {
    if s == "off" {
        return Ok(None);
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = s.split_at(digits);
    let size: i64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "{s:?} is not a duration: write a whole number and a unit (ms, s, m, h, d, w), e.g. 7d or 36h, or `off`"
            ))
        }
    };
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: the number is missing or too large"))?;
    n.checked_mul(size)
        .ok_or_else(|| format!("{s:?} is too large a duration"))
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const T: i64 = 1_793_527_200_000;

    #[test]
    fn the_median_of_the_first_events_outvotes_a_bogus_first_one() {
        // The first line says 2100; the others are a day apart in 2026.
        let year_2100 = 4_102_444_800_000;
        let mut first = vec![year_2100, T, T + DAY, T + 2 * DAY];
        let h = Horizon::new(Some(7 * DAY), &mut first);
        let e = h.check("occurred_at", year_2100).unwrap_err();
        assert_eq!(e.field(), "occurred_at");
        assert!(
            e.to_string().contains(
                "2100-01-01T00:00:00.000Z is too far in the future: 26722.6 days after the newest event replayed so far (2026-11-02T10:00:00.000Z), beyond the --max-future horizon of 7d"
            ),
            "{e}"
        );
        assert!(h.check("occurred_at", T).is_ok());
        assert!(h.check("occurred_at", T + 8 * DAY).is_ok());
        let e = h.check("occurred_at", T + 8 * DAY + 3_600_000).unwrap_err();
        assert!(e.to_string().contains("7.0 days after"), "{e}");
    }

    #[test]
    fn the_reference_follows_accepted_events_and_never_goes_back() {
        let mut h = Horizon::new(Some(DAY), &mut []);
        assert!(h.check("occurred_at", i64::MAX).is_ok(), "nothing seen yet");
        h.accept(T);
        assert!(h.check("occurred_at", T + DAY).is_ok());
        assert!(h.check("occurred_at", T + DAY + 1).is_err());
        h.accept(T + DAY);
        h.accept(T - 30 * DAY);
        assert!(h.check("occurred_at", T + 2 * DAY).is_ok());
        assert!(h.check("occurred_at", i64::MAX).is_err(), "no overflow");
        let off = Horizon::new(None, &mut [T]);
        assert!(off.check("occurred_at", i64::MAX).is_ok());
    }

    #[test]
    fn durations_parse_and_print_in_their_units() {
        assert_eq!(parse_max_future("7d"), Ok(Some(7 * DAY)));
        assert_eq!(parse_max_future("36h"), Ok(Some(36 * 3_600_000)));
        assert_eq!(parse_max_future("2w"), Ok(Some(14 * DAY)));
        assert_eq!(parse_max_future("1500ms"), Ok(Some(1500)));
        assert_eq!(parse_max_future("90s"), Ok(Some(90_000)));
        assert_eq!(parse_max_future("off"), Ok(None));
        for bad in [
            "",
            "7",
            "d",
            "7 d",
            "-1d",
            "1.5d",
            "7days",
            "99999999999999999999d",
        ] {
            assert!(parse_max_future(bad).is_err(), "{bad:?}");
        }
        assert!(parse_max_future("9999999999999999w").is_err());
        assert_eq!(human_ms(7 * DAY), "7d");
        assert_eq!(human_ms(36 * 3_600_000), "36h");
        assert_eq!(human_ms(90_000), "90s");
        assert_eq!(human_ms(1500), "1500ms");
        assert_eq!(human_ms(0), "0ms");
    }
}
