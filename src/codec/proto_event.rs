//! The protobuf form of an inbound event: `leadscore.v1.Event`.
//!
//! The record is read in place ([`EventView::read`], strings borrowed from
//! it); a record that reader leaves alone is decoded by prost into owned
//! messages and viewed the same way. Either view is mapped into an
//! [`Event`] and validated exactly like JSON. In proto3 an unset string or
//! number reads as `""` / `0`, so those count as absent.

use std::borrow::Cow;

use prost::Message;

use super::error::DecodeError;
use super::limits::DecodeLimits;
use super::proto;
use super::proto_view::{EventView, PayloadView, WebView};
use super::timestamp::check_epoch_range;
use super::validate::{
    bounded_id, check_expected, check_profile, check_size, check_skew, optional, required_id,
    web_path,
};
use crate::event::{
    AssetKind, Event, EventBody, EventType, FormKind, Profile, WebContext, WebinarAction,
};

/// Decodes and validates one `leadscore.v1.Event` record; strings borrow
/// from `payload` unless prost had to decode it.
pub(crate) fn decode<'a>(
    payload: &'a [u8],
    expected: Option<EventType>,
    now_ms: Option<i64>,
    limits: &DecodeLimits,
) -> Result<Event<'a>, DecodeError> {
    check_size(payload, limits)?;
    if let Some(view) = EventView::read(payload) {
        return event(view, expected, now_ms, limits);
    }
    let msg = proto::Event::decode(payload).map_err(|e| {
        DecodeError::payload(format!(
            "not a valid leadscore.v1.Event protobuf message ({e})"
        ))
    })?;
    event(EventView::of(&msg), expected, now_ms, limits).map(Event::into_owned)
}

/// Validates a decoded message and maps it into an [`Event`].
fn event<'a>(
    msg: EventView<'a>,
    expected: Option<EventType>,
    now_ms: Option<i64>,
    limits: &DecodeLimits,
) -> Result<Event<'a>, DecodeError> {
    let event_id = bounded_id("event_id", Some(id("event_id", msg.event_id)?), limits)?;
    let lead_id = bounded_id("lead_id", Some(id("lead_id", msg.lead_id)?), limits)?;
    let occurred_at_ms = match msg.occurred_at_ms {
        0 => return Err(DecodeError::new("occurred_at_ms", "required but missing")),
        ms => check_epoch_range(ms, || ms.to_string())
            .map_err(|p| DecodeError::new("occurred_at_ms", p))?,
    };
    check_skew("occurred_at_ms", occurred_at_ms, now_ms, limits)?;
    let Some(payload) = msg.payload else {
        return Err(DecodeError::payload(
            "no event is set in the `payload` oneof (one of page_view, pricing_page, download, webinar, form, profile)",
        ));
    };
    let body = body(payload, expected)?;
    Ok(Event {
        event_id,
        lead_id,
        occurred_at_ms,
        body,
    })
}

/// Maps the `payload` oneof into an [`EventBody`], checking it against the
/// topic's type first.
fn body<'a>(
    payload: PayloadView<'a>,
    expected: Option<EventType>,
) -> Result<EventBody<'a>, DecodeError> {
    use PayloadView as P;
    let got = match &payload {
        P::PageView { .. } => EventType::PageView,
        P::PricingPage { .. } => EventType::PricingPage,
        P::Download { .. } => EventType::Download,
        P::Webinar { .. } => EventType::Webinar,
        P::Form { .. } => EventType::Form,
        P::Profile { .. } => EventType::Profile,
    };
    check_expected("payload", got, expected)?;
    Ok(match payload {
        P::PageView {
            url,
            path,
            referrer,
            web: w,
        } => EventBody::PageView {
            path: web_path(opt(url), opt(path))?,
            referrer: opt(referrer),
            web: web(w),
        },
        P::PricingPage {
            url,
            path,
            plan,
            seconds_on_page,
            web: w,
        } => EventBody::PricingPage {
            path: web_path(opt(url), opt(path))?,
            plan: opt(plan),
            seconds_on_page: (seconds_on_page != 0).then_some(seconds_on_page),
            web: web(w),
        },
        P::Download {
            asset_id,
            asset_kind: k,
        } => EventBody::Download {
            asset_id: id("asset_id", asset_id)?,
            asset_kind: asset_kind(k)?,
        },
        P::Webinar {
            webinar_id,
            action,
            minutes,
        } => EventBody::Webinar {
            webinar_id: id("webinar_id", webinar_id)?,
            action: webinar_action(action)?,
            minutes: (minutes != 0).then_some(minutes),
        },
        P::Form { form } => EventBody::Form {
            form: form_kind(form)?,
        },
        P::Profile {
            industry,
            employees,
            annual_revenue_usd,
            country,
        } => {
            let p = Profile {
                industry: optional(industry.map(Cow::Borrowed)),
                employees,
                annual_revenue_usd,
                country: optional(country.map(Cow::Borrowed)),
            };
            check_profile(&p)?;
            EventBody::Profile(p)
        }
    })
}

/// A required id; `""` is how proto3 shows an unset string.
fn id<'a>(field: &'static str, s: &'a str) -> Result<Cow<'a, str>, DecodeError> {
    if s.is_empty() {
        return Err(DecodeError::new(field, "required but missing"));
    }
    required_id(field, Some(Cow::Borrowed(s)))
}

/// An optional string; `""` is absent.
fn opt(s: &str) -> Option<Cow<'_, str>> {
    optional(Some(Cow::Borrowed(s)))
}

/// The web context, all of whose fields are optional.
fn web(w: Option<WebView<'_>>) -> WebContext<'_> {
    let w = w.unwrap_or_default();
    WebContext {
        user_agent: opt(w.user_agent),
        ip: opt(w.ip),
        session_id: opt(w.session_id),
    }
}

/// The error for an enum field left at its `*_UNSPECIFIED` zero value.
fn unset(field: &'static str, zero: &str) -> DecodeError {
    DecodeError::new(field, format!("required but missing ({zero})"))
}

/// The error for an enum number this schema version does not know.
fn unknown(field: &'static str, v: i32) -> DecodeError {
    DecodeError::new(field, format!("unknown enum value {v}"))
}

/// Maps `leadscore.v1.AssetKind`.
fn asset_kind(v: i32) -> Result<AssetKind, DecodeError> {
    use proto::AssetKind as P;
    Ok(match P::try_from(v) {
        Ok(P::Whitepaper) => AssetKind::Whitepaper,
        Ok(P::CaseStudy) => AssetKind::CaseStudy,
        Ok(P::Ebook) => AssetKind::Ebook,
        Ok(P::Datasheet) => AssetKind::Datasheet,
        Ok(P::Other) => AssetKind::Other,
        Ok(P::Unspecified) => return Err(unset("asset_kind", P::Unspecified.as_str_name())),
        Err(_) => return Err(unknown("asset_kind", v)),
    })
}

/// Maps `leadscore.v1.WebinarAction`.
fn webinar_action(v: i32) -> Result<WebinarAction, DecodeError> {
    use proto::WebinarAction as P;
    Ok(match P::try_from(v) {
        Ok(P::Registered) => WebinarAction::Registered,
        Ok(P::Attended) => WebinarAction::Attended,
        Ok(P::OnDemand) => WebinarAction::OnDemand,
        Ok(P::Unspecified) => return Err(unset("action", P::Unspecified.as_str_name())),
        Err(_) => return Err(unknown("action", v)),
    })
}

/// Maps `leadscore.v1.FormKind`.
fn form_kind(v: i32) -> Result<FormKind, DecodeError> {
    use proto::FormKind as P;
    Ok(match P::try_from(v) {
        Ok(P::ContactUs) => FormKind::ContactUs,
        Ok(P::DemoRequest) => FormKind::DemoRequest,
        Ok(P::Newsletter) => FormKind::Newsletter,
        Ok(P::Other) => FormKind::Other,
        Ok(P::Unspecified) => return Err(unset("form", P::Unspecified.as_str_name())),
        Err(_) => return Err(unknown("form", v)),
    })
}

/// Builds the `leadscore.v1.Event` message for an event; absent options are
/// left unset (`""` / `0`).
pub(crate) fn to_message(event: &Event<'_>) -> proto::Event {
    use proto::event::Payload as P;
    /// An optional string as proto3 carries it (`""` when absent).
    fn s(v: &Option<Cow<'_, str>>) -> String {
        v.as_deref().unwrap_or_default().to_owned()
    }
    /// The web context message, left out when it carries nothing.
    fn web(w: &WebContext<'_>) -> Option<proto::WebContext> {
        (w != &WebContext::default()).then(|| proto::WebContext {
            user_agent: s(&w.user_agent),
            ip: s(&w.ip),
            session_id: s(&w.session_id),
        })
    }
    let payload = match &event.body {
        EventBody::PageView {
            path,
            referrer,
            web: w,
        } => P::PageView(proto::PageView {
            url: String::new(),
            path: path.to_string(),
            referrer: s(referrer),
            web: web(w),
        }),
        EventBody::PricingPage {
            path,
            plan,
            seconds_on_page,
            web: w,
        } => P::PricingPage(proto::PricingPage {
            url: String::new(),
            path: path.to_string(),
            plan: s(plan),
            seconds_on_page: seconds_on_page.unwrap_or(0),
            web: web(w),
        }),
        EventBody::Download {
            asset_id,
            asset_kind,
        } => P::Download(proto::Download {
            asset_id: asset_id.to_string(),
            asset_kind: match asset_kind {
                AssetKind::Whitepaper => proto::AssetKind::Whitepaper,
                AssetKind::CaseStudy => proto::AssetKind::CaseStudy,
                AssetKind::Ebook => proto::AssetKind::Ebook,
                AssetKind::Datasheet => proto::AssetKind::Datasheet,
                AssetKind::Other => proto::AssetKind::Other,
            } as i32,
        }),
        EventBody::Webinar {
            webinar_id,
            action,
            minutes,
        } => P::Webinar(proto::Webinar {
            webinar_id: webinar_id.to_string(),
            action: match action {
                WebinarAction::Registered => proto::WebinarAction::Registered,
                WebinarAction::Attended => proto::WebinarAction::Attended,
                WebinarAction::OnDemand => proto::WebinarAction::OnDemand,
            } as i32,
            minutes: minutes.unwrap_or(0),
        }),
        EventBody::Form { form } => P::Form(proto::Form {
            form: match form {
                FormKind::ContactUs => proto::FormKind::ContactUs,
                FormKind::DemoRequest => proto::FormKind::DemoRequest,
                FormKind::Newsletter => proto::FormKind::Newsletter,
                FormKind::Other => proto::FormKind::Other,
            } as i32,
        }),
        EventBody::Profile(p) => P::Profile(proto::Profile {
            industry: p.industry.as_deref().map(str::to_owned),
            employees: p.employees,
            annual_revenue_usd: p.annual_revenue_usd,
            country: p.country.as_deref().map(str::to_owned),
        }),
    };
    proto::Event {
        event_id: event.event_id.to_string(),
        lead_id: event.lead_id.to_string(),
        occurred_at_ms: event.occurred_at_ms,
        payload: Some(payload),
    }
}

/// Encodes an event as a `leadscore.v1.Event` record.
pub(crate) fn encode(event: &Event<'_>) -> Vec<u8> {
    to_message(event).encode_to_vec()
}
