//! Validation shared by the JSON and protobuf decoders, so a record is
//! refused for the same reasons, with the same words, in both formats.

use std::borrow::Cow;

use super::error::{quote, DecodeError};
use super::limits::DecodeLimits;
use super::timestamp::format_rfc3339_ms;
use super::url::path_of_url;
use crate::event::{AssetKind, EventType, FormKind, Profile, WebinarAction};

/// Refuses an empty record or one over `max_record_bytes`, before any parsing
/// (a record that large could only be a producer bug or an attack).
pub(crate) fn check_size(payload: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    if payload.is_empty() {
        return Err(DecodeError::payload("record is empty"));
    }
    if payload.len() > limits.max_record_bytes {
        return Err(limits.oversized(payload.len() as u64));
    }
    Ok(())
}

/// A required identifier (`event_id`, `lead_id`, `asset_id`, `webinar_id`):
/// present and not empty or blank.
pub(crate) fn required_id<'a>(
    field: &'static str,
    v: Option<Cow<'a, str>>,
) -> Result<Cow<'a, str>, DecodeError> {
    match v {
        None => Err(DecodeError::new(field, "required but missing")),
        Some(s) if s.trim().is_empty() => Err(DecodeError::new(field, "must not be empty")),
        Some(s) => Ok(s),
    }
}

/// `lead_id` or `event_id`: a required id no longer than `max_id_bytes`
/// (and never longer than the engine keeps, [`crate::engine::MAX_ID_BYTES`]).
/// Real CRM and event ids are far shorter; a longer one could only be a
/// producer bug, and every output derived from it would grow with it.
pub(crate) fn bounded_id<'a>(
    field: &'static str,
    v: Option<Cow<'a, str>>,
    limits: &DecodeLimits,
) -> Result<Cow<'a, str>, DecodeError> {
    let id = required_id(field, v)?;
    let max = limits.max_id_bytes.min(crate::engine::MAX_ID_BYTES);
    if id.len() > max {
        return Err(DecodeError::new(
            field,
            format!(
                "is {} bytes long, over the limit of {max} bytes (max_id_bytes)",
                id.len()
            ),
        ));
    }
    Ok(id)
}

/// An optional string: empty counts as absent, as it must in protobuf (where
/// an unset string reads as ""), so both formats decode to the same event.
pub(crate) fn optional(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    v.filter(|s| !s.is_empty())
}

/// Refuses an event time more than `max_future_skew_ms` after `now_ms`, when
/// both are known: such a record comes from a producer with a broken clock
/// and would drag the task's watermark (and its decay sweep) into the future.
pub(crate) fn check_skew(
    field: &'static str,
    occurred_at_ms: i64,
    now_ms: Option<i64>,
    limits: &DecodeLimits,
) -> Result<(), DecodeError> {
    if let (Some(now), Some(skew)) = (now_ms, limits.max_future_skew_ms) {
        let ahead = occurred_at_ms.saturating_sub(now);
        if ahead > skew {
            return Err(DecodeError::new(
                field,
                format!(
                    "{} is {ahead} ms in the future, more than the allowed clock skew of {skew} ms",
                    format_rfc3339_ms(occurred_at_ms)
                ),
            ));
        }
    }
    Ok(())
}

/// The page path of a web event: `path` as sent when present, else the path
/// component of `url`; one of the two is required.
pub(crate) fn web_path<'a>(
    url: Option<Cow<'a, str>>,
    path: Option<Cow<'a, str>>,
) -> Result<Cow<'a, str>, DecodeError> {
    match (path, url) {
        (Some(p), _) if !p.is_empty() => Ok(p),
        (Some(_), None) => Err(DecodeError::new("path", "must not be empty")),
        (_, Some(u)) if u.is_empty() => Err(DecodeError::new("url", "must not be empty")),
        (_, Some(u)) => path_of_url(u).map_err(|e| {
            DecodeError::new(
                "url",
                format!(
                    "{} is neither an absolute URL (scheme://host/path) nor a path starting with /",
                    quote(&e.0)
                ),
            )
        }),
        (None, None) => Err(DecodeError::new(
            "url",
            "required but missing (send `url` or `path`)",
        )),
    }
}

/// Refuses a profile event that carries no attribute: it would change nothing
/// and usually means the producer used other field names.
pub(crate) fn check_profile(p: &Profile<'_>) -> Result<(), DecodeError> {
    if p.industry.is_none()
        && p.employees.is_none()
        && p.annual_revenue_usd.is_none()
        && p.country.is_none()
    {
        return Err(DecodeError::new(
            "profile",
            "a profile event needs at least one of industry, employees, annual_revenue_usd, country",
        ));
    }
    Ok(())
}

/// The closed vocabularies of the event format, parsed from their JSON names
/// with an error that lists the accepted values.
pub(crate) trait Vocabulary: Sized + Copy + 'static {
    /// Every value, in documentation order.
    const ALL: &'static [Self];
    /// The wire name of a value.
    fn name(self) -> &'static str;

    /// Parses `s`, or names `field` and lists the accepted values.
    fn parse_field(field: &'static str, s: &str) -> Result<Self, DecodeError> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                DecodeError::new(
                    field,
                    format!("{} is not one of {}", quote(s), names.join(", ")),
                )
            })
    }
}

impl Vocabulary for EventType {
    const ALL: &'static [Self] = &EventType::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for AssetKind {
    const ALL: &'static [Self] = &AssetKind::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for WebinarAction {
    const ALL: &'static [Self] = &WebinarAction::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for FormKind {
    const ALL: &'static [Self] = &FormKind::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Refuses a record whose kind differs from its topic's: a `type` (JSON) or
/// payload variant (protobuf) that contradicts the topic means the producer
/// wrote to the wrong topic.
pub(crate) fn check_expected(
    field: &'static str,
    got: EventType,
    expected: Option<EventType>,
) -> Result<(), DecodeError> {
    match expected {
        Some(want) if want != got => Err(DecodeError::new(
            field,
            format!("this topic carries {want} events, got {got}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limit_is_checked_on_bytes() {
        let limits = DecodeLimits {
            max_record_bytes: 4,
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        assert!(check_size(b"1234", &limits).is_ok());
        let e = check_size(b"12345", &limits).unwrap_err();
        assert_eq!(e.field(), "payload");
        assert!(
            e.to_string().contains("5 bytes, over the limit of 4"),
            "{e}"
        );
        assert_eq!(
            check_size(b"", &limits).unwrap_err().to_string(),
            "payload: record is empty"
        );
    }

    #[test]
    fn skew_is_checked_only_with_a_clock_and_a_limit() {
        let limits = DecodeLimits::default();
        assert!(check_skew("occurred_at", 1_300_000, Some(1_000_000), &limits).is_ok());
        let e = check_skew("occurred_at", 1_300_001, Some(1_000_000), &limits).unwrap_err();
        assert_eq!(e.field(), "occurred_at");
        assert!(e.to_string().contains("300001 ms in the future"), "{e}");
        assert!(check_skew("occurred_at", i64::MAX, None, &limits).is_ok());
        let off = DecodeLimits {
            max_future_skew_ms: None,
            ..limits
        };
        assert!(check_skew("occurred_at", i64::MAX, Some(0), &off).is_ok());
        // No overflow with extreme clocks.
        assert!(check_skew("occurred_at", 0, Some(i64::MIN), &limits).is_err());
    }

    #[test]
    fn web_path_prefers_path_then_url() {
        let b = |s: &'static str| Some(Cow::Borrowed(s));
        assert_eq!(web_path(b("https://x.com/a?q"), b("/b")).unwrap(), "/b");
        assert_eq!(web_path(b("https://x.com/a?q"), None).unwrap(), "/a");
        assert_eq!(web_path(b("https://x.com/a?q"), b("")).unwrap(), "/a");
        assert_eq!(web_path(None, None).unwrap_err().field(), "url");
        assert_eq!(web_path(None, b("")).unwrap_err().field(), "path");
        assert_eq!(web_path(b(""), None).unwrap_err().field(), "url");
        let e = web_path(b("x.com/a"), None).unwrap_err();
        assert_eq!(e.field(), "url");
        assert!(e.to_string().contains("\"x.com/a\""), "{e}");
    }

    #[test]
    fn vocabularies_list_accepted_values() {
        assert_eq!(
            AssetKind::parse_field("asset_kind", "case_study"),
            Ok(AssetKind::CaseStudy)
        );
        let e = AssetKind::parse_field("asset_kind", "pdf").unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `asset_kind`: \"pdf\" is not one of whitepaper, case_study, ebook, datasheet, other"
        );
        assert!(FormKind::parse_field("form", "Contact_Us").is_err());
    }
}
