//! Event-time parsing (RFC 3339 with any offset, or epoch milliseconds) and
//! the millisecond RFC 3339 rendering used in every output.
//!
//! RFC 3339 is parsed by chrono (`DateTime::parse_from_rfc3339`), which cost
//! 3.7% of decode + apply against the hand-written parser it replaced
//! (BENCHMARKS.md "Engine"); the price is a less specific error ("input is
//! out of range" rather than which part). Formatting stays hand-written: it
//! is total on every `i64` and fixed-width, which outputs rely on.

use std::fmt::Write;

use chrono::format::ParseErrorKind;

use super::error::quote;

/// 1970-01-01T00:00:00.000Z: event times before the epoch are refused.
pub(crate) const MIN_EPOCH_MS: i64 = 0;

/// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write. Later event
/// times are refused so that event-time arithmetic downstream (decay, sweeps,
/// windows) can never overflow.
pub(crate) const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Renders epoch milliseconds as RFC 3339 UTC with exactly three fractional
/// digits (`2026-11-01T10:00:00.000Z`), the fixed-width form every output
/// uses so equal instants always render to equal bytes. Never panics; years
/// outside 0..=9999 render with more digits or a sign.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1000;
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        in_day % 1000
    );
    out
}

/// Parses an RFC 3339 date-time to epoch milliseconds (UTC), as chrono
/// reads it: `T`, `t` or a space between date and time, `Z`/`z` or a
/// numeric offset, any number of fractional digits (truncated to
/// milliseconds); a leap second (`:60`) reads as the first instant of the
/// next minute.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Result<i64, chrono::ParseError> {
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis())
}

/// Reads a timestamp given as a JSON string: RFC 3339 only. A string of
/// digits is refused, not guessed at: epoch milliseconds are a JSON number
/// (DESIGN.md "Inbound events"), and a quoted number could as well be
/// seconds or microseconds. Returns the problem text for the `occurred_at`
/// error otherwise.
pub(crate) fn parse_time_str(s: &str) -> Result<i64, String> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{} is a string of digits; send epoch milliseconds as a JSON number, not a string, or an RFC 3339 date-time",
            quote(s)
        ));
    }
    match parse_rfc3339_ms(s) {
        Ok(ms) => check_epoch_range(ms, || quote(s)),
        Err(e)
            if matches!(
                e.kind(),
                ParseErrorKind::OutOfRange | ParseErrorKind::Impossible
            ) =>
        {
            Err(format!(
                "{} is not a valid RFC 3339 date-time ({e})",
                quote(s)
            ))
        }
        Err(_) => Err(format!(
            "{} is neither RFC 3339 nor epoch milliseconds",
            quote(s)
        )),
    }
}

/// Refuses instants before 1970 or after year 9999; `shown` renders the value
/// as the producer sent it, only when there is an error to report.
pub(crate) fn check_epoch_range(ms: i64, shown: impl FnOnce() -> String) -> Result<i64, String> {
    if ms < MIN_EPOCH_MS {
        Err(format!("{} is before 1970-01-01T00:00:00Z", shown()))
    } else if ms > MAX_EPOCH_MS {
        Err(format!("{} is after 9999-12-31T23:59:59.999Z", shown()))
    } else {
        Ok(ms)
    }
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`); total for every `i64` day count a millisecond
/// timestamp can produce.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_three_fraction_digits() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(1_793_527_200_000),
            "2026-11-01T10:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_ms(951_782_400_123),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(format_rfc3339_ms(MAX_EPOCH_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        // Total on every i64: no panic at the extremes.
        assert!(!format_rfc3339_ms(i64::MIN).is_empty());
        assert!(!format_rfc3339_ms(i64::MAX).is_empty());
    }

    #[test]
    fn parses_offsets_fractions_and_separators() {
        let utc = 1_793_527_200_000;
        for (s, want) in [
            ("2026-11-01T10:00:00Z", utc),
            ("2026-11-01t10:00:00z", utc),
            ("2026-11-01 10:00:00Z", utc),
            ("2026-11-01T11:30:00+01:30", utc),
            ("2026-11-01T05:00:00-05:00", utc),
            ("2026-11-01T10:00:00.5Z", utc + 500),
            ("2026-11-01T10:00:00.05Z", utc + 50),
            ("2026-11-01T10:00:00.123999999Z", utc + 123),
            ("2026-11-01T09:59:60Z", utc),
        ] {
            assert_eq!(parse_rfc3339_ms(s).ok(), Some(want), "{s}");
            assert_eq!(parse_time_str(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn formatting_roundtrips_through_parsing() {
        for ms in [0, 951_782_400_123, 1_793_527_200_000, MAX_EPOCH_MS] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)).ok(), Some(ms));
        }
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        for s in [
            "",
            "yesterday",
            "2026-11-01",
            "2026-11-01T10:00:00",
            "2026-11-01T10:00Z",
            "2026-11-01T10:00:00.Z",
            "2026-11-01T10:00:00Z ",
            "2026/11/01T10:00:00Z",
            "+2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00+01",
            "2026-11-01T10:00:00+0100",
            "\u{ff12}\u{ff10}\u{ff12}\u{ff16}-11-01T10:00:00Z",
        ] {
            let e = parse_time_str(s).unwrap_err();
            assert!(e.contains("neither RFC 3339"), "{s:?}: {e}");
        }
        for s in [
            "2026-13-01T10:00:00Z",
            "2026-02-29T10:00:00Z",
            "2026-04-31T10:00:00Z",
            "2026-04-30T24:00:00Z",
            "2026-04-30T23:60:00Z",
            "2026-04-30T23:59:61Z",
            "2026-04-30T23:59:59+24:00",
        ] {
            let e = parse_time_str(s).unwrap_err();
            assert!(e.contains("not a valid RFC 3339 date-time"), "{s:?}: {e}");
        }
    }

    #[test]
    fn time_strings_refuse_digit_epochs_and_pre_1970() {
        for s in [
            "1793527200000",
            "0",
            "999999999999999999",
            "99999999999999999999",
        ] {
            let e = parse_time_str(s).unwrap_err();
            assert_eq!(
                e,
                format!("\"{s}\" is a string of digits; send epoch milliseconds as a JSON number, not a string, or an RFC 3339 date-time")
            );
        }
        let e = parse_time_str("yesterday").unwrap_err();
        assert_eq!(
            e,
            "\"yesterday\" is neither RFC 3339 nor epoch milliseconds"
        );
        let e = parse_time_str("1969-12-31T23:59:59Z").unwrap_err();
        assert!(e.contains("before 1970"), "{e}");
        let e = parse_time_str("1970-01-01T00:30:00+01:00").unwrap_err();
        assert!(e.contains("before 1970"), "{e}");
        let e = parse_time_str("-1793527200000").unwrap_err();
        assert!(e.contains("neither RFC 3339"), "{e}");
    }
}
