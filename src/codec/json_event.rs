//! The JSON form of an inbound event: a flat object (README "Event format").
//!
//! Decoding is one pass of serde (derived, [`Fields`]) over the bytes into
//! one borrowed value per known field, with no `serde_json::Value` and no
//! allocation unless a string has escapes; serde skips unknown fields and
//! refuses a repeated one. Every field accepts any JSON kind, so a wrong
//! type is reported by the validation that follows, naming the field,
//! instead of as an anonymous serde error. Only when parsing fails is the
//! record parsed again through `serde_path_to_error`, to name the field.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::error::{quote, DecodeError};
use super::limits::DecodeLimits;
use super::timestamp::{check_epoch_range, format_rfc3339_ms, parse_time_str};
use super::validate::{
    bounded_id, check_profile, check_size, check_skew, optional, required_id, web_path, Vocabulary,
};
use crate::event::{
    AssetKind, Event, EventBody, EventType, FormKind, Profile, WebContext, WebinarAction,
};

/// The JSON fields the decoder reads; any other key is skipped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Key {
    EventId,
    LeadId,
    OccurredAt,
    Type,
    Url,
    Path,
    Referrer,
    UserAgent,
    Ip,
    SessionId,
    Plan,
    SecondsOnPage,
    AssetId,
    AssetKind,
    WebinarId,
    Action,
    Minutes,
    Form,
    Industry,
    Employees,
    AnnualRevenueUsd,
    Country,
}

/// Number of [`Key`]s.
const KEYS: usize = 22;

impl Key {
    /// The JSON name of the field, also used in error messages.
    fn name(self) -> &'static str {
        match self {
            Key::EventId => "event_id",
            Key::LeadId => "lead_id",
            Key::OccurredAt => "occurred_at",
            Key::Type => "type",
            Key::Url => "url",
            Key::Path => "path",
            Key::Referrer => "referrer",
            Key::UserAgent => "user_agent",
            Key::Ip => "ip",
            Key::SessionId => "session_id",
            Key::Plan => "plan",
            Key::SecondsOnPage => "seconds_on_page",
            Key::AssetId => "asset_id",
            Key::AssetKind => "asset_kind",
            Key::WebinarId => "webinar_id",
            Key::Action => "action",
            Key::Minutes => "minutes",
            Key::Form => "form",
            Key::Industry => "industry",
            Key::Employees => "employees",
            Key::AnnualRevenueUsd => "annual_revenue_usd",
            Key::Country => "country",
        }
    }
}

/// Every key, indexed by its discriminant.
const ALL_KEYS: [Key; KEYS] = [
    Key::EventId,
    Key::LeadId,
    Key::OccurredAt,
    Key::Type,
    Key::Url,
    Key::Path,
    Key::Referrer,
    Key::UserAgent,
    Key::Ip,
    Key::SessionId,
    Key::Plan,
    Key::SecondsOnPage,
    Key::AssetId,
    Key::AssetKind,
    Key::WebinarId,
    Key::Action,
    Key::Minutes,
    Key::Form,
    Key::Industry,
    Key::Employees,
    Key::AnnualRevenueUsd,
    Key::Country,
];

/// One JSON value as read from a known field, of whatever kind the producer
/// sent; containers are skipped, only their kind is kept. Exists so a wrong
/// kind is an error the validator can name, not a serde failure.
#[derive(Debug, Clone, PartialEq)]
enum JVal<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    NegInt(i64),
    Float(f64),
    Bool(bool),
    Array,
    Object,
}

impl JVal<'_> {
    /// What the producer sent, for "expected X, got Y" messages.
    fn describe(&self) -> String {
        match self {
            JVal::Str(_) => "string".into(),
            JVal::UInt(n) => format!("number {n}"),
            JVal::NegInt(n) => format!("number {n}"),
            JVal::Float(x) => format!("number {x}"),
            JVal::Bool(_) => "boolean".into(),
            JVal::Array => "array".into(),
            JVal::Object => "object".into(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JVal<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JValVisitor(std::marker::PhantomData))
    }
}

/// Reads any JSON value into a [`JVal`], borrowing unescaped strings.
struct JValVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JValVisitor<'a> {
    type Value = JVal<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JVal::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(JVal::NegInt(v), JVal::UInt))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(JVal::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JVal::Bool(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JVal::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JVal::Object)
    }
}

/// The known fields of one record, before validation; `None` is absent or
/// `null`. Serde derives the parsing: field names, unknown fields skipped,
/// a repeated known field refused.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    event_id: Option<JVal<'a>>,
    #[serde(borrow)]
    lead_id: Option<JVal<'a>>,
    #[serde(borrow)]
    occurred_at: Option<JVal<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<JVal<'a>>,
    #[serde(borrow)]
    url: Option<JVal<'a>>,
    #[serde(borrow)]
    path: Option<JVal<'a>>,
    #[serde(borrow)]
    referrer: Option<JVal<'a>>,
    #[serde(borrow)]
    user_agent: Option<JVal<'a>>,
    #[serde(borrow)]
    ip: Option<JVal<'a>>,
    #[serde(borrow)]
    session_id: Option<JVal<'a>>,
    #[serde(borrow)]
    plan: Option<JVal<'a>>,
    #[serde(borrow)]
    seconds_on_page: Option<JVal<'a>>,
    #[serde(borrow)]
    asset_id: Option<JVal<'a>>,
    #[serde(borrow)]
    asset_kind: Option<JVal<'a>>,
    #[serde(borrow)]
    webinar_id: Option<JVal<'a>>,
    #[serde(borrow)]
    action: Option<JVal<'a>>,
    #[serde(borrow)]
    minutes: Option<JVal<'a>>,
    #[serde(borrow)]
    form: Option<JVal<'a>>,
    #[serde(borrow)]
    industry: Option<JVal<'a>>,
    #[serde(borrow)]
    employees: Option<JVal<'a>>,
    #[serde(borrow)]
    annual_revenue_usd: Option<JVal<'a>>,
    #[serde(borrow)]
    country: Option<JVal<'a>>,
}

/// A record's known fields, read by the validation below.
struct Raw<'a> {
    fields: Fields<'a>,
}

impl<'a> Raw<'a> {
    /// Parses `payload` as one JSON object; anything else is a `payload`
    /// error (or names the repeated field).
    fn parse(payload: &'a [u8]) -> Result<Raw<'a>, DecodeError> {
        // One UTF-8 check of the whole record is much cheaper than serde's
        // check of every string in it (then it parses a `str`, unchecked).
        let text = std::str::from_utf8(payload).map_err(|e| {
            DecodeError::payload(format!("not valid UTF-8 (at byte {})", e.valid_up_to()))
        })?;
        check_depth(payload)?;
        match serde_json::from_str::<Fields<'a>>(text) {
            Ok(fields) => Ok(Raw { fields }),
            Err(e) => Err(parse_error(text, e)),
        }
    }

    /// Moves a field's value out (each field is read once).
    fn take(&mut self, k: Key) -> Option<JVal<'a>> {
        let f = &mut self.fields;
        match k {
            Key::EventId => f.event_id.take(),
            Key::LeadId => f.lead_id.take(),
            Key::OccurredAt => f.occurred_at.take(),
            Key::Type => f.kind.take(),
            Key::Url => f.url.take(),
            Key::Path => f.path.take(),
            Key::Referrer => f.referrer.take(),
            Key::UserAgent => f.user_agent.take(),
            Key::Ip => f.ip.take(),
            Key::SessionId => f.session_id.take(),
            Key::Plan => f.plan.take(),
            Key::SecondsOnPage => f.seconds_on_page.take(),
            Key::AssetId => f.asset_id.take(),
            Key::AssetKind => f.asset_kind.take(),
            Key::WebinarId => f.webinar_id.take(),
            Key::Action => f.action.take(),
            Key::Minutes => f.minutes.take(),
            Key::Form => f.form.take(),
            Key::Industry => f.industry.take(),
            Key::Employees => f.employees.take(),
            Key::AnnualRevenueUsd => f.annual_revenue_usd.take(),
            Key::Country => f.country.take(),
        }
    }

    /// A string field.
    fn str(&mut self, k: Key) -> Result<Option<Cow<'a, str>>, DecodeError> {
        match self.take(k) {
            None => Ok(None),
            Some(JVal::Str(s)) => Ok(Some(s)),
            Some(other) => Err(DecodeError::new(
                k.name(),
                format!("expected a string, got {}", other.describe()),
            )),
        }
    }

    /// A non-negative integer field.
    fn uint(&mut self, k: Key) -> Result<Option<u64>, DecodeError> {
        match self.take(k) {
            None => Ok(None),
            Some(JVal::UInt(n)) => Ok(Some(n)),
            Some(other) => Err(DecodeError::new(
                k.name(),
                format!("expected a non-negative integer, got {}", other.describe()),
            )),
        }
    }

    /// A non-negative integer field that must fit 32 bits (as in protobuf).
    fn uint32(&mut self, k: Key) -> Result<Option<u32>, DecodeError> {
        self.uint(k)?
            .map(|n| {
                u32::try_from(n).map_err(|_| {
                    DecodeError::new(
                        k.name(),
                        format!("{n} is out of range (at most {})", u32::MAX),
                    )
                })
            })
            .transpose()
    }

    /// A field from a closed vocabulary, required.
    fn vocab<V: Vocabulary>(&mut self, k: Key) -> Result<V, DecodeError> {
        match self.str(k)? {
            None => Err(DecodeError::new(k.name(), "required but missing")),
            Some(s) => V::parse_field(k.name(), &s),
        }
    }

    /// `occurred_at`: an RFC 3339 string or integer epoch milliseconds.
    fn occurred_at(&mut self) -> Result<i64, DecodeError> {
        let field = Key::OccurredAt.name();
        let problem = match self.take(Key::OccurredAt) {
            None => "required but missing".to_string(),
            Some(JVal::Str(s)) => match parse_time_str(&s) {
                Ok(ms) => return Ok(ms),
                Err(p) => p,
            },
            Some(JVal::UInt(n)) => {
                let ms = i64::try_from(n).unwrap_or(i64::MAX);
                match check_epoch_range(ms, || n.to_string()) {
                    Ok(ms) => return Ok(ms),
                    Err(p) => p,
                }
            }
            Some(JVal::NegInt(n)) => format!("{n} is before 1970-01-01T00:00:00Z"),
            Some(other) => format!(
                "expected an RFC 3339 string or integer epoch milliseconds, got {}",
                other.describe()
            ),
        };
        Err(DecodeError::new(field, problem))
    }

    /// `type`, checked against the topic's type when there is one.
    fn event_type(&mut self, expected: Option<EventType>) -> Result<EventType, DecodeError> {
        let field = Key::Type.name();
        match (self.str(Key::Type)?, expected) {
            (None, Some(want)) => Ok(want),
            (Some(s), Some(want)) if s == want.as_str() => Ok(want),
            (Some(s), Some(want)) => Err(DecodeError::new(field, format!("this topic carries {want} events, got {}", quote(&s)))),
            (Some(s), None) => EventType::parse_field(field, &s),
            (None, None) => Err(DecodeError::new(
                field,
                "required but missing (one of page_view, pricing_page, download, webinar, form, profile)",
            )),
        }
    }

    /// The optional browser context of a web event.
    fn web(&mut self) -> Result<WebContext<'a>, DecodeError> {
        Ok(WebContext {
            user_agent: optional(self.str(Key::UserAgent)?),
            ip: optional(self.str(Key::Ip)?),
            session_id: optional(self.str(Key::SessionId)?),
        })
    }

    /// The type-specific part of the event.
    fn body(&mut self, ty: EventType) -> Result<EventBody<'a>, DecodeError> {
        Ok(match ty {
            EventType::PageView => EventBody::PageView {
                path: web_path(self.str(Key::Url)?, self.str(Key::Path)?)?,
                referrer: optional(self.str(Key::Referrer)?),
                web: self.web()?,
            },
            EventType::PricingPage => EventBody::PricingPage {
                path: web_path(self.str(Key::Url)?, self.str(Key::Path)?)?,
                plan: optional(self.str(Key::Plan)?),
                seconds_on_page: self.uint32(Key::SecondsOnPage)?,
                web: self.web()?,
            },
            EventType::Download => EventBody::Download {
                asset_id: required_id(Key::AssetId.name(), self.str(Key::AssetId)?)?,
                asset_kind: self.vocab::<AssetKind>(Key::AssetKind)?,
            },
            EventType::Webinar => EventBody::Webinar {
                webinar_id: required_id(Key::WebinarId.name(), self.str(Key::WebinarId)?)?,
                action: self.vocab::<WebinarAction>(Key::Action)?,
                minutes: self.uint32(Key::Minutes)?,
            },
            EventType::Form => EventBody::Form {
                form: self.vocab::<FormKind>(Key::Form)?,
            },
            EventType::Profile => {
                let p = Profile {
                    industry: optional(self.str(Key::Industry)?),
                    employees: self.uint(Key::Employees)?,
                    annual_revenue_usd: self.uint(Key::AnnualRevenueUsd)?,
                    country: optional(self.str(Key::Country)?),
                };
                check_profile(&p)?;
                EventBody::Profile(p)
            }
        })
    }
}

/// Why a record did not parse, in the words of a dead-letter reason. The
/// record is parsed again through `serde_path_to_error`, which tracks the
/// field being read: invalid JSON inside a known field's value names that
/// field, elsewhere the path is quoted. A repeated known field is named
/// (serde's "duplicate field `x`" message names it; its path is the
/// object's). A record that is valid JSON but not an object says what it is.
fn parse_error(payload: &str, e: serde_json::Error) -> DecodeError {
    let mut de = serde_json::Deserializer::from_str(payload);
    let (path, inner) = match serde_path_to_error::deserialize::<_, Fields<'_>>(&mut de) {
        Err(tracked) => (tracked.path().to_string(), tracked.into_inner()),
        // Trailing characters are found by `end`, outside the tracked parse.
        Ok(_) => (".".to_string(), e),
    };
    let message = inner.to_string();
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        let name = rest.split('`').next().unwrap_or_default();
        if let Some(k) = ALL_KEYS.iter().find(|k| k.name() == name) {
            return DecodeError::new(k.name(), "appears more than once");
        }
    }
    if inner.classify() == serde_json::error::Category::Data {
        return DecodeError::payload(format!(
            "expected a JSON object, got {}",
            json_kind(payload.as_bytes())
        ));
    }
    match ALL_KEYS.iter().find(|k| k.name() == path) {
        Some(k) => DecodeError::new(k.name(), format!("not valid JSON ({message})")),
        None if path == "." => DecodeError::payload(format!("not valid JSON ({message})")),
        None => DecodeError::payload(format!("not valid JSON at `{path}` ({message})")),
    }
}

/// Deepest nesting of arrays and objects a record may have, the record's
/// own object included. serde_json skips unknown fields (and the contents
/// of known fields of the wrong kind) without its recursion limit, so
/// without this a record nested 100 000 deep inside a field nobody reads
/// would be accepted; real events are flat.
pub(crate) const MAX_JSON_DEPTH: usize = 64;

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`]. A record with no more
/// opening brackets than the limit cannot exceed it, so the common case is
/// one SIMD search for two bytes (`memchr2`; a plain byte count cost 7% of
/// replay's instructions); only a record with more is scanned with string
/// and escape tracking.
fn check_depth(payload: &[u8]) -> Result<(), DecodeError> {
    if memchr::memchr2_iter(b'[', b'{', payload)
        .nth(MAX_JSON_DEPTH)
        .is_none()
    {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in payload.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(DecodeError::payload(format!(
                        "JSON nested more than {MAX_JSON_DEPTH} levels deep (at byte {i})"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The kind of the top-level JSON value, told from its first byte, for the
/// "expected a JSON object" error.
fn json_kind(payload: &[u8]) -> &'static str {
    match payload.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'{') => "an invalid object",
        _ => "a number",
    }
}

/// Decodes and validates one JSON event record.
pub(crate) fn decode<'a>(
    payload: &'a [u8],
    expected: Option<EventType>,
    now_ms: Option<i64>,
    limits: &DecodeLimits,
) -> Result<Event<'a>, DecodeError> {
    check_size(payload, limits)?;
    let mut raw = Raw::parse(payload)?;
    let event_id = bounded_id(Key::EventId.name(), raw.str(Key::EventId)?, limits)?;
    let lead_id = bounded_id(Key::LeadId.name(), raw.str(Key::LeadId)?, limits)?;
    let occurred_at_ms = raw.occurred_at()?;
    check_skew(Key::OccurredAt.name(), occurred_at_ms, now_ms, limits)?;
    let ty = raw.event_type(expected)?;
    let body = raw.body(ty)?;
    Ok(Event {
        event_id,
        lead_id,
        occurred_at_ms,
        body,
    })
}

/// The JSON shape of an event as [`encode`] writes it: the same flat object
/// the decoder reads, absent options left out.
#[derive(Serialize, Default)]
struct EventOut<'e> {
    event_id: &'e str,
    lead_id: &'e str,
    occurred_at: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referrer: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds_on_page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_id: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webinar_id: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    form: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    industry: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    employees: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annual_revenue_usd: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'e str>,
}

/// Encodes an event as the flat JSON object [`decode`] reads, with
/// `occurred_at` in RFC 3339 (milliseconds, UTC) and `path` for web events.
pub(crate) fn encode(event: &Event<'_>) -> Vec<u8> {
    let mut out = EventOut {
        event_id: &event.event_id,
        lead_id: &event.lead_id,
        occurred_at: format_rfc3339_ms(event.occurred_at_ms),
        kind: event.event_type().as_str(),
        ..EventOut::default()
    };
    match &event.body {
        EventBody::PageView {
            path,
            referrer,
            web,
        } => {
            out.path = Some(path);
            out.referrer = referrer.as_deref();
            set_web(&mut out, web);
        }
        EventBody::PricingPage {
            path,
            plan,
            seconds_on_page,
            web,
        } => {
            out.path = Some(path);
            out.plan = plan.as_deref();
            out.seconds_on_page = *seconds_on_page;
            set_web(&mut out, web);
        }
        EventBody::Download {
            asset_id,
            asset_kind,
        } => {
            out.asset_id = Some(asset_id);
            out.asset_kind = Some(asset_kind.as_str());
        }
        EventBody::Webinar {
            webinar_id,
            action,
            minutes,
        } => {
            out.webinar_id = Some(webinar_id);
            out.action = Some(action.as_str());
            out.minutes = *minutes;
        }
        EventBody::Form { form } => out.form = Some(form.as_str()),
        EventBody::Profile(p) => {
            out.industry = p.industry.as_deref();
            out.employees = p.employees;
            out.annual_revenue_usd = p.annual_revenue_usd;
            out.country = p.country.as_deref();
        }
    }
    // Serializing strings and integers into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// Copies a web context into the output object.
fn set_web<'e>(out: &mut EventOut<'e>, web: &'e WebContext<'_>) {
    out.user_agent = web.user_agent.as_deref();
    out.ip = web.ip.as_deref();
    out.session_id = web.session_id.as_deref();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_in_order() {
        for (i, k) in ALL_KEYS.iter().enumerate() {
            assert_eq!(*k as usize, i);
            assert_eq!(ALL_KEYS.iter().filter(|x| x.name() == k.name()).count(), 1);
        }
    }
}
