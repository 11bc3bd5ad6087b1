//! Event-time parsing (RFC 3339 with any offset, or epoch milliseconds) and
//! the millisecond RFC 3339 rendering used in every output.
//!
//! Hand-written rather than chrono's parser: it runs once per inbound record,
//! allocates nothing, and knows exactly which part of a timestamp is wrong.

use std::fmt::Write;

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

/// What is wrong with a string that should be an RFC 3339 date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rfc3339Error {
    /// Not shaped like `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` at all.
    Malformed,
    /// Shaped right, but this part is out of range (e.g. month 13).
    OutOfRange(&'static str),
}

/// Parses an RFC 3339 date-time to epoch milliseconds (UTC). Accepts `T`, `t`
/// or a space between date and time, `Z`/`z` or a numeric offset, and any
/// number of fractional digits (truncated to milliseconds). A leap second
/// (`:60`) is read as the first instant of the next minute.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Result<i64, Rfc3339Error> {
    use Rfc3339Error::{Malformed, OutOfRange};
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(Malformed);
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => return Err(Malformed),
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if b[i + 3] != b':' {
                return Err(Malformed);
            }
            if oh > 23 {
                return Err(OutOfRange("offset hour"));
            }
            if om > 59 {
                return Err(OutOfRange("offset minute"));
            }
            i += 6;
            let off = oh * 60 + om;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return Err(Malformed),
    };
    if i != b.len() {
        return Err(Malformed);
    }
    if !(1..=12).contains(&month) {
        return Err(OutOfRange("month"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(OutOfRange("day"));
    }
    if hour > 23 {
        return Err(OutOfRange("hour"));
    }
    if minute > 59 {
        return Err(OutOfRange("minute"));
    }
    if second > 60 {
        return Err(OutOfRange("second"));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(secs * 1000 + millis)
}

/// Reads a timestamp given as a JSON string: RFC 3339, or a string of digits
/// holding epoch milliseconds (some producers quote their numbers). Returns
/// the problem text for the `occurred_at` error otherwise.
pub(crate) fn parse_time_str(s: &str) -> Result<i64, String> {
    if !s.is_empty() && s.len() <= 18 && s.bytes().all(|c| c.is_ascii_digit()) {
        // At most 18 digits always fits an i64.
        let ms = s
            .bytes()
            .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
        return check_epoch_range(ms, || quote(s));
    }
    match parse_rfc3339_ms(s) {
        Ok(ms) => check_epoch_range(ms, || quote(s)),
        Err(Rfc3339Error::Malformed) => Err(format!(
            "{} is neither RFC 3339 nor epoch milliseconds",
            quote(s)
        )),
        Err(Rfc3339Error::OutOfRange(part)) => Err(format!(
            "{} is not a valid RFC 3339 date-time ({part} out of range)",
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

/// `n` ASCII digits of `b` starting at `at` as a number; `Malformed` if the
/// bytes are missing or not digits.
fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, Rfc3339Error> {
    let part = b.get(at..at + n).ok_or(Rfc3339Error::Malformed)?;
    part.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(Rfc3339Error::Malformed)
        }
    })
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    use chrono::DateTime;

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
        assert_eq!(parse_rfc3339_ms("2026-11-01T10:00:00Z"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-01t10:00:00z"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-01 10:00:00Z"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-01T11:30:00+01:30"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-01T05:00:00-05:00"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-01T10:00:00.5Z"), Ok(utc + 500));
        assert_eq!(parse_rfc3339_ms("2026-11-01T10:00:00.05Z"), Ok(utc + 50));
        assert_eq!(
            parse_rfc3339_ms("2026-11-01T10:00:00.123999999Z"),
            Ok(utc + 123)
        );
        assert_eq!(parse_rfc3339_ms("2026-11-01T09:59:60Z"), Ok(utc));
    }

    #[test]
    fn agrees_with_chrono_on_valid_inputs() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59.999+14:00",
            "1999-12-31T23:59:59-12:00",
            "2024-02-29T12:00:00.1+05:45",
            "2100-03-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let want = DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
            assert_eq!(parse_rfc3339_ms(s), Ok(want), "{s}");
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(want)), Ok(want), "{s}");
        }
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        use Rfc3339Error::*;
        for s in [
            "",
            "yesterday",
            "2026-11-01",
            "2026-11-01T10:00:00",
            "2026-11-01T10:00Z",
            "2026-11-01T10:00:00.Z",
            "2026-11-01T10:00:00+0100",
            "2026-11-01T10:00:00Z ",
            "2026/11/01T10:00:00Z",
            "+2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00+01",
            "２０２６-11-01T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ms(s), Err(Malformed), "{s:?}");
        }
        assert_eq!(
            parse_rfc3339_ms("2026-13-01T10:00:00Z"),
            Err(OutOfRange("month"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-02-29T10:00:00Z"),
            Err(OutOfRange("day"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-04-31T10:00:00Z"),
            Err(OutOfRange("day"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-04-30T24:00:00Z"),
            Err(OutOfRange("hour"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-04-30T23:60:00Z"),
            Err(OutOfRange("minute"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-04-30T23:59:61Z"),
            Err(OutOfRange("second"))
        );
        assert_eq!(
            parse_rfc3339_ms("2026-04-30T23:59:59+24:00"),
            Err(OutOfRange("offset hour"))
        );
    }

    #[test]
    fn time_strings_accept_digit_epochs_and_refuse_pre_1970() {
        assert_eq!(parse_time_str("1793527200000"), Ok(1_793_527_200_000));
        assert_eq!(parse_time_str("0"), Ok(0));
        let e = parse_time_str("yesterday").unwrap_err();
        assert_eq!(
            e,
            "\"yesterday\" is neither RFC 3339 nor epoch milliseconds"
        );
        let e = parse_time_str("1969-12-31T23:59:59Z").unwrap_err();
        assert!(e.contains("before 1970"), "{e}");
        let e = parse_time_str("1970-01-01T00:30:00+01:00").unwrap_err();
        assert!(e.contains("before 1970"), "{e}");
        let e = parse_time_str("999999999999999999").unwrap_err();
        assert!(e.contains("after 9999"), "{e}");
        let e = parse_time_str("99999999999999999999").unwrap_err();
        assert!(e.contains("neither RFC 3339"), "{e}");
    }
}
