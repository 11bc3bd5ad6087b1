//! The typed marketing event every codec decodes into and the engine scores.
//!
//! Strings borrow from the record payload where they can (`Cow`), so decoding
//! a JSON record allocates only for escaped strings.

use std::borrow::Cow;
use std::fmt;

/// The kind of an event; each inbound topic carries one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    PageView,
    PricingPage,
    Download,
    Webinar,
    Form,
    Profile,
}

impl EventType {
    /// Every kind, in the order topics are merged when event times tie.
    pub const ALL: [EventType; 6] = [
        EventType::PageView,
        EventType::PricingPage,
        EventType::Download,
        EventType::Webinar,
        EventType::Form,
        EventType::Profile,
    ];

    /// The name used in JSON `type`, model files and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::PricingPage => "pricing_page",
            EventType::Download => "download",
            EventType::Webinar => "webinar",
            EventType::Form => "form",
            EventType::Profile => "profile",
        }
    }

    /// Parses the name used in JSON `type` and model files.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind of downloaded asset; case studies weigh more in the default model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetKind {
    Whitepaper,
    CaseStudy,
    Ebook,
    Datasheet,
    Other,
}

impl AssetKind {
    pub const ALL: [AssetKind; 5] = [
        AssetKind::Whitepaper,
        AssetKind::CaseStudy,
        AssetKind::Ebook,
        AssetKind::Datasheet,
        AssetKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Whitepaper => "whitepaper",
            AssetKind::CaseStudy => "case_study",
            AssetKind::Ebook => "ebook",
            AssetKind::Datasheet => "datasheet",
            AssetKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<AssetKind> {
        AssetKind::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What a lead did about a webinar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebinarAction {
    Registered,
    Attended,
    OnDemand,
}

impl WebinarAction {
    pub const ALL: [WebinarAction; 3] = [
        WebinarAction::Registered,
        WebinarAction::Attended,
        WebinarAction::OnDemand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebinarAction::Registered => "registered",
            WebinarAction::Attended => "attended",
            WebinarAction::OnDemand => "on_demand",
        }
    }

    pub fn parse(s: &str) -> Option<WebinarAction> {
        WebinarAction::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Which form a lead submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormKind {
    ContactUs,
    DemoRequest,
    Newsletter,
    Other,
}

impl FormKind {
    pub const ALL: [FormKind; 4] = [
        FormKind::ContactUs,
        FormKind::DemoRequest,
        FormKind::Newsletter,
        FormKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FormKind::ContactUs => "contact_us",
            FormKind::DemoRequest => "demo_request",
            FormKind::Newsletter => "newsletter",
            FormKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<FormKind> {
        FormKind::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Browser context of a web event, used only for bot filtering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebContext<'a> {
    pub user_agent: Option<Cow<'a, str>>,
    pub ip: Option<Cow<'a, str>>,
    pub session_id: Option<Cow<'a, str>>,
}

/// Firmographic attributes; `None` means "not in this event", never "erase".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile<'a> {
    pub industry: Option<Cow<'a, str>>,
    pub employees: Option<u64>,
    pub annual_revenue_usd: Option<u64>,
    pub country: Option<Cow<'a, str>>,
}

/// The type-specific part of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody<'a> {
    /// `path` is the URL path (taken from `url` when only that was given).
    PageView {
        path: Cow<'a, str>,
        referrer: Option<Cow<'a, str>>,
        web: WebContext<'a>,
    },
    PricingPage {
        path: Cow<'a, str>,
        plan: Option<Cow<'a, str>>,
        seconds_on_page: Option<u32>,
        web: WebContext<'a>,
    },
    Download {
        asset_id: Cow<'a, str>,
        asset_kind: AssetKind,
    },
    Webinar {
        webinar_id: Cow<'a, str>,
        action: WebinarAction,
        minutes: Option<u32>,
    },
    Form {
        form: FormKind,
    },
    Profile(Profile<'a>),
}

/// One validated marketing event about one lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub lead_id: Cow<'a, str>,
    /// Event time, milliseconds since the Unix epoch (UTC).
    pub occurred_at_ms: i64,
    pub body: EventBody<'a>,
}

impl Event<'_> {
    /// The kind of this event.
    pub fn event_type(&self) -> EventType {
        match self.body {
            EventBody::PageView { .. } => EventType::PageView,
            EventBody::PricingPage { .. } => EventType::PricingPage,
            EventBody::Download { .. } => EventType::Download,
            EventBody::Webinar { .. } => EventType::Webinar,
            EventBody::Form { .. } => EventType::Form,
            EventBody::Profile(_) => EventType::Profile,
        }
    }

    /// The browser context, for the two web event kinds.
    pub fn web(&self) -> Option<&WebContext<'_>> {
        match &self.body {
            EventBody::PageView { web, .. } | EventBody::PricingPage { web, .. } => Some(web),
            _ => None,
        }
    }

    /// Copies every borrowed string so the event outlives its payload.
    pub fn into_owned(self) -> Event<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        fn own_opt(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            c.map(own)
        }
        fn own_web(w: WebContext<'_>) -> WebContext<'static> {
            WebContext {
                user_agent: own_opt(w.user_agent),
                ip: own_opt(w.ip),
                session_id: own_opt(w.session_id),
            }
        }
        let body = match self.body {
            EventBody::PageView {
                path,
                referrer,
                web,
            } => EventBody::PageView {
                path: own(path),
                referrer: own_opt(referrer),
                web: own_web(web),
            },
            EventBody::PricingPage {
                path,
                plan,
                seconds_on_page,
                web,
            } => EventBody::PricingPage {
                path: own(path),
                plan: own_opt(plan),
                seconds_on_page,
                web: own_web(web),
            },
            EventBody::Download {
                asset_id,
                asset_kind,
            } => EventBody::Download {
                asset_id: own(asset_id),
                asset_kind,
            },
            EventBody::Webinar {
                webinar_id,
                action,
                minutes,
            } => EventBody::Webinar {
                webinar_id: own(webinar_id),
                action,
                minutes,
            },
            EventBody::Form { form } => EventBody::Form { form },
            EventBody::Profile(p) => EventBody::Profile(Profile {
                industry: own_opt(p.industry),
                employees: p.employees,
                annual_revenue_usd: p.annual_revenue_usd,
                country: own_opt(p.country),
            }),
        };
        Event {
            event_id: own(self.event_id),
            lead_id: own(self.lead_id),
            occurred_at_ms: self.occurred_at_ms,
            body,
        }
    }
}
