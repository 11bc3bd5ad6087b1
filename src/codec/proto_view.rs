//! A `leadscore.v1.Event` read in place: every string borrows from the
//! record. prost's generated types own a `String` per field, which cost a
//! third of the protobuf decoder's instructions in allocation and copying;
//! this reader walks the same wire format with prost's own primitives
//! (`prost::encoding`: keys, varints, skipping unknown fields) and builds a
//! view with `&str`s instead.
//!
//! It reads only what it is sure prost reads the same way: a record it
//! cannot read (bad wire data, invalid UTF-8, a known field with the wrong
//! wire type) or one that needs prost's merging (a message field, or the
//! `payload` oneof, given twice) is left to prost, which then gives the
//! error, or the event, exactly as before ([`EventView::of`] views prost's
//! message the same way). Scalars and strings repeated are last-wins, as
//! in prost; unknown fields are skipped, as in prost.

use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};

use super::proto;

/// The fields of a `leadscore.v1.Event`, borrowed; proto3 defaults (`""`,
/// `0`) where unset.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct EventView<'a> {
    pub event_id: &'a str,
    pub lead_id: &'a str,
    pub occurred_at_ms: i64,
    pub payload: Option<PayloadView<'a>>,
}

/// The `payload` oneof, borrowed. Enums are their wire numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PayloadView<'a> {
    PageView {
        url: &'a str,
        path: &'a str,
        referrer: &'a str,
        web: Option<WebView<'a>>,
    },
    PricingPage {
        url: &'a str,
        path: &'a str,
        plan: &'a str,
        seconds_on_page: u32,
        web: Option<WebView<'a>>,
    },
    Download {
        asset_id: &'a str,
        asset_kind: i32,
    },
    Webinar {
        webinar_id: &'a str,
        action: i32,
        minutes: u32,
    },
    Form {
        form: i32,
    },
    Profile {
        industry: Option<&'a str>,
        employees: Option<u64>,
        annual_revenue_usd: Option<u64>,
        country: Option<&'a str>,
    },
}

/// A `leadscore.v1.WebContext`, borrowed.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct WebView<'a> {
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub session_id: &'a str,
}

impl<'a> EventView<'a> {
    /// Reads a record in place; `None` when it is one to leave to prost
    /// (see the module docs).
    pub fn read(record: &'a [u8]) -> Option<EventView<'a>> {
        let mut buf = record;
        let mut v = EventView::default();
        while !buf.is_empty() {
            let (tag, wt) = decode_key(&mut buf).ok()?;
            match (tag, wt) {
                (1, WireType::LengthDelimited) => v.event_id = string(&mut buf)?,
                (2, WireType::LengthDelimited) => v.lead_id = string(&mut buf)?,
                (3, WireType::Varint) => v.occurred_at_ms = varint(&mut buf)? as i64,
                (10..=15, WireType::LengthDelimited) if v.payload.is_none() => {
                    v.payload = Some(payload(tag, bytes(&mut buf)?)?);
                }
                (1..=3 | 10..=15, _) => return None,
                _ => skip(tag, wt, &mut buf)?,
            }
        }
        Some(v)
    }

    /// prost's decoded message, viewed the same way.
    pub fn of(m: &'a proto::Event) -> EventView<'a> {
        use proto::event::Payload as P;
        let web = |w: &'a Option<proto::WebContext>| {
            w.as_ref().map(|w| WebView {
                user_agent: &w.user_agent,
                ip: &w.ip,
                session_id: &w.session_id,
            })
        };
        EventView {
            event_id: &m.event_id,
            lead_id: &m.lead_id,
            occurred_at_ms: m.occurred_at_ms,
            payload: m.payload.as_ref().map(|p| match p {
                P::PageView(p) => PayloadView::PageView {
                    url: &p.url,
                    path: &p.path,
                    referrer: &p.referrer,
                    web: web(&p.web),
                },
                P::PricingPage(p) => PayloadView::PricingPage {
                    url: &p.url,
                    path: &p.path,
                    plan: &p.plan,
                    seconds_on_page: p.seconds_on_page,
                    web: web(&p.web),
                },
                P::Download(d) => PayloadView::Download {
                    asset_id: &d.asset_id,
                    asset_kind: d.asset_kind,
                },
                P::Webinar(w) => PayloadView::Webinar {
                    webinar_id: &w.webinar_id,
                    action: w.action,
                    minutes: w.minutes,
                },
                P::Form(f) => PayloadView::Form { form: f.form },
                P::Profile(p) => PayloadView::Profile {
                    industry: p.industry.as_deref(),
                    employees: p.employees,
                    annual_revenue_usd: p.annual_revenue_usd,
                    country: p.country.as_deref(),
                },
            }),
        }
    }
}

/// The oneof member with field number `tag`, from its message bytes.
fn payload(tag: u32, mut buf: &[u8]) -> Option<PayloadView<'_>> {
    let mut p = match tag {
        10 => PayloadView::PageView {
            url: "",
            path: "",
            referrer: "",
            web: None,
        },
        11 => PayloadView::PricingPage {
            url: "",
            path: "",
            plan: "",
            seconds_on_page: 0,
            web: None,
        },
        12 => PayloadView::Download {
            asset_id: "",
            asset_kind: 0,
        },
        13 => PayloadView::Webinar {
            webinar_id: "",
            action: 0,
            minutes: 0,
        },
        14 => PayloadView::Form { form: 0 },
        _ => PayloadView::Profile {
            industry: None,
            employees: None,
            annual_revenue_usd: None,
            country: None,
        },
    };
    use WireType::{LengthDelimited as Ld, Varint as Vi};
    while !buf.is_empty() {
        let (field, wt) = decode_key(&mut buf).ok()?;
        let b = &mut buf;
        match (&mut p, field, wt) {
            (PayloadView::PageView { url, .. }, 1, Ld) => *url = string(b)?,
            (PayloadView::PageView { path, .. }, 2, Ld) => *path = string(b)?,
            (PayloadView::PageView { referrer, .. }, 3, Ld) => *referrer = string(b)?,
            (PayloadView::PageView { web: w @ None, .. }, 4, Ld) => *w = Some(web(bytes(b)?)?),
            (PayloadView::PageView { .. }, 1..=4, _) => return None,
            (PayloadView::PricingPage { url, .. }, 1, Ld) => *url = string(b)?,
            (PayloadView::PricingPage { path, .. }, 2, Ld) => *path = string(b)?,
            (PayloadView::PricingPage { plan, .. }, 3, Ld) => *plan = string(b)?,
            (
                PayloadView::PricingPage {
                    seconds_on_page, ..
                },
                4,
                Vi,
            ) => {
                *seconds_on_page = varint(b)? as u32;
            }
            (PayloadView::PricingPage { web: w @ None, .. }, 5, Ld) => *w = Some(web(bytes(b)?)?),
            (PayloadView::PricingPage { .. }, 1..=5, _) => return None,
            (PayloadView::Download { asset_id, .. }, 1, Ld) => *asset_id = string(b)?,
            (PayloadView::Download { asset_kind, .. }, 2, Vi) => *asset_kind = varint(b)? as i32,
            (PayloadView::Download { .. }, 1..=2, _) => return None,
            (PayloadView::Webinar { webinar_id, .. }, 1, Ld) => *webinar_id = string(b)?,
            (PayloadView::Webinar { action, .. }, 2, Vi) => *action = varint(b)? as i32,
            (PayloadView::Webinar { minutes, .. }, 3, Vi) => *minutes = varint(b)? as u32,
            (PayloadView::Webinar { .. }, 1..=3, _) => return None,
            (PayloadView::Form { form }, 1, Vi) => *form = varint(b)? as i32,
            (PayloadView::Form { .. }, 1, _) => return None,
            (PayloadView::Profile { industry, .. }, 1, Ld) => *industry = Some(string(b)?),
            (PayloadView::Profile { employees, .. }, 2, Vi) => *employees = Some(varint(b)?),
            (
                PayloadView::Profile {
                    annual_revenue_usd, ..
                },
                3,
                Vi,
            ) => *annual_revenue_usd = Some(varint(b)?),
            (PayloadView::Profile { country, .. }, 4, Ld) => *country = Some(string(b)?),
            (PayloadView::Profile { .. }, 1..=4, _) => return None,
            _ => skip(field, wt, b)?,
        }
    }
    Some(p)
}

/// A `WebContext` from its message bytes.
fn web(mut buf: &[u8]) -> Option<WebView<'_>> {
    let mut w = WebView::default();
    while !buf.is_empty() {
        let (field, wt) = decode_key(&mut buf).ok()?;
        match (field, wt) {
            (1, WireType::LengthDelimited) => w.user_agent = string(&mut buf)?,
            (2, WireType::LengthDelimited) => w.ip = string(&mut buf)?,
            (3, WireType::LengthDelimited) => w.session_id = string(&mut buf)?,
            (1..=3, _) => return None,
            _ => skip(field, wt, &mut buf)?,
        }
    }
    Some(w)
}

/// A varint.
fn varint(buf: &mut &[u8]) -> Option<u64> {
    decode_varint(buf).ok()
}

/// A length-delimited field's bytes.
fn bytes<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(buf)?).ok()?;
    if len > buf.len() {
        return None;
    }
    let (field, rest) = buf.split_at(len);
    *buf = rest;
    Some(field)
}

/// A string field (UTF-8 checked, as prost does).
fn string<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(bytes(buf)?).ok()
}

/// Skips an unknown field as prost does.
fn skip(field: u32, wt: WireType, buf: &mut &[u8]) -> Option<()> {
    skip_field(wt, field, buf, DecodeContext::default()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// What prost makes of `record`, viewed.
    fn prost_view(record: &[u8]) -> Option<proto::Event> {
        proto::Event::decode(record).ok()
    }

    #[test]
    fn every_record_read_in_place_is_what_prost_reads() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let mut traffic = crate::demo::Traffic::new(
            3,
            500,
            1_780_000_000_000,
            1_000,
            crate::demo::TrafficMix::default(),
        );
        let (mut read, mut left) = (0, 0);
        for i in 0..20_000 {
            let rec = traffic.next_record();
            let Ok(e) = crate::codec::decode_event(
                &rec.payload,
                crate::codec::Format::Json,
                None,
                None,
                &crate::codec::DecodeLimits::default(),
            ) else {
                continue;
            };
            let mut bytes = crate::codec::encode_event(&e, crate::codec::Format::Protobuf);
            // Mutate some: flip bytes, cut, append unknown or repeated fields.
            match i % 5 {
                1 => {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.random_range(0..8);
                }
                2 => bytes.truncate(rng.random_range(0..bytes.len())),
                3 => {
                    let extra = bytes.clone();
                    bytes.extend_from_slice(&extra[..rng.random_range(0..extra.len())]);
                }
                4 => bytes.extend_from_slice(&[0xa8, 0x06, 0x07, 0x32, 0x01, b'x']),
                _ => {}
            }
            let prost = prost_view(&bytes);
            match EventView::read(&bytes) {
                Some(view) => {
                    read += 1;
                    let m = prost.as_ref().expect("prost reads what the view reads");
                    assert_eq!(view, EventView::of(m), "record {i}: {bytes:?}");
                }
                None => left += 1,
            }
        }
        assert!(read > 10_000 && left > 1_000, "{read} read, {left} left");
    }
}
