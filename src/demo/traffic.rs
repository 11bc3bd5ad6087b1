//! The traffic generator itself.

use std::borrow::Cow;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::codec::{encode_event, Format};
use crate::event::{
    AssetKind, Event, EventBody, EventType, FormKind, Profile, WebContext, WebinarAction,
};

/// One record to produce: which event type's topic, its key and payload,
/// and the record timestamp (= the event time).
#[derive(Debug, Clone)]
pub struct Record {
    pub event_type: EventType,
    pub key: String,
    pub payload: Vec<u8>,
    pub timestamp_ms: i64,
    /// The event id, when the payload is a valid event.
    pub event_id: Option<String>,
}

/// Shares of special records, in parts per thousand.
#[derive(Debug, Clone, Copy)]
pub struct TrafficMix {
    pub bots_per_mille: u32,
    pub duplicates_per_mille: u32,
    pub malformed_per_mille: u32,
}

impl Default for TrafficMix {
    fn default() -> Self {
        TrafficMix {
            bots_per_mille: 20,
            duplicates_per_mille: 10,
            malformed_per_mille: 5,
        }
    }
}

/// How a lead behaves: how often it comes back and what it looks at.
#[derive(Debug, Clone, Copy)]
enum Persona {
    /// Reads a few blog posts and leaves.
    Browser,
    /// Downloads content, attends webinars: becomes an MQL.
    Researcher,
    /// Pricing pages, case studies, demo request: becomes an SQL with good fit.
    Buyer,
    /// Only careers pages.
    JobSeeker,
}

const PATHS: &[&str] = &[
    "/",
    "/blog/lead-scoring-101",
    "/blog/mql-vs-sql",
    "/product",
    "/product/integrations",
    "/customers",
    "/docs/getting-started",
    "/about",
];
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
];
const BOT_AGENTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "python-requests/2.31.0",
    "Mozilla/5.0 HeadlessChrome/120.0",
];
const INDUSTRIES: &[&str] = &[
    "software",
    "fintech",
    "retail",
    "healthcare technology",
    "education",
    "manufacturing",
];
const COUNTRIES: &[&str] = &["US", "DE", "GB", "BR", "IN", "FR", "CA"];

/// A deterministic stream of records over `leads` leads, starting at event
/// time `start_ms` and advancing `step_ms` per record on average.
pub struct Traffic {
    rng: SmallRng,
    leads: u64,
    now_ms: i64,
    step_ms: i64,
    seq: u64,
    mix: TrafficMix,
    last_valid: Option<Record>,
    profiled: Vec<bool>,
}

impl Traffic {
    pub fn new(seed: u64, leads: u64, start_ms: i64, step_ms: i64, mix: TrafficMix) -> Traffic {
        let leads = leads.max(1);
        Traffic {
            rng: SmallRng::seed_from_u64(seed),
            leads,
            now_ms: start_ms,
            step_ms: step_ms.max(0),
            seq: 0,
            mix,
            last_valid: None,
            profiled: vec![false; leads.min(10_000_000) as usize],
        }
    }

    /// The 36-character id of lead number `n` (UUID-shaped, stable).
    pub fn lead_id(n: u64) -> String {
        let h = xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
        let x = format!("{h:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &x[0..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..32]
        )
    }

    fn persona(n: u64) -> Persona {
        match n % 20 {
            0..=10 => Persona::Browser,
            11..=15 => Persona::Researcher,
            16..=18 => Persona::Buyer,
            _ => Persona::JobSeeker,
        }
    }

    /// The event time the generator has reached.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The next record.
    pub fn next_record(&mut self) -> Record {
        self.seq += 1;
        if self.step_ms > 0 {
            self.now_ms += self.rng.random_range(0..=2 * self.step_ms);
        }
        let roll = self.rng.random_range(0..1000u32);
        if roll < self.mix.malformed_per_mille {
            return self.malformed();
        }
        if roll < self.mix.malformed_per_mille + self.mix.duplicates_per_mille {
            if let Some(r) = &self.last_valid {
                return r.clone();
            }
        }
        let bot = roll >= 1000 - self.mix.bots_per_mille;
        let n = self.rng.random_range(0..self.leads);
        let lead = Traffic::lead_id(n);
        let event = self.event_for(n, &lead, bot);
        let rec = Record {
            event_type: event.event_type(),
            key: lead.clone(),
            payload: encode_event(&event, Format::Json),
            timestamp_ms: event.occurred_at_ms,
            event_id: Some(event.event_id.to_string()),
        };
        self.last_valid = Some(rec.clone());
        rec
    }

    /// A `contact_us` form of a lead never seen before (`marker-<n>`), at
    /// the generator's current event time: it moves its lead to MQL at once,
    /// which is what latency measurements time.
    pub fn contact_us(&mut self, n: u64) -> Record {
        self.seq += 1;
        let lead = format!("marker-{n}");
        let event = Event {
            event_id: Cow::Owned(format!("marker-ev-{n}")),
            lead_id: Cow::Owned(lead.clone()),
            occurred_at_ms: self.now_ms,
            body: EventBody::Form {
                form: FormKind::ContactUs,
            },
        };
        Record {
            event_type: EventType::Form,
            key: lead,
            payload: encode_event(&event, Format::Json),
            timestamp_ms: self.now_ms,
            event_id: Some(event.event_id.to_string()),
        }
    }

    fn web(&mut self, bot: bool) -> WebContext<'static> {
        let ua = if bot {
            BOT_AGENTS[self.rng.random_range(0..BOT_AGENTS.len())]
        } else {
            USER_AGENTS[self.rng.random_range(0..USER_AGENTS.len())]
        };
        WebContext {
            user_agent: Some(Cow::Borrowed(ua)),
            ip: None,
            session_id: None,
        }
    }

    fn event_for(&mut self, n: u64, lead: &str, bot: bool) -> Event<'static> {
        let idx = n as usize;
        let needs_profile = idx < self.profiled.len() && !self.profiled[idx];
        let r: u32 = self.rng.random_range(0..100);
        let body = if needs_profile && r < 15 {
            self.profiled[idx] = true;
            let good = matches!(Traffic::persona(n), Persona::Buyer | Persona::Researcher);
            EventBody::Profile(Profile {
                industry: Some(Cow::Borrowed(if good {
                    INDUSTRIES[(n % 2) as usize]
                } else {
                    INDUSTRIES[self.rng.random_range(0..INDUSTRIES.len())]
                })),
                employees: Some(if good { 250 + n % 5000 } else { 5 + n % 80 }),
                annual_revenue_usd: Some(if good { 20_000_000 } else { 500_000 }),
                country: Some(Cow::Borrowed(
                    COUNTRIES[self.rng.random_range(0..COUNTRIES.len())],
                )),
            })
        } else if bot {
            EventBody::PageView {
                path: Cow::Borrowed(PATHS[self.rng.random_range(0..PATHS.len())]),
                referrer: None,
                web: self.web(true),
            }
        } else {
            match (Traffic::persona(n), r) {
                (Persona::JobSeeker, _) => EventBody::PageView {
                    path: Cow::Owned(format!(
                        "/careers/{}",
                        ["engineer", "sales", "designer"][self.rng.random_range(0..3)]
                    )),
                    referrer: None,
                    web: self.web(false),
                },
                (Persona::Browser, _)
                | (Persona::Researcher, 0..=39)
                | (Persona::Buyer, 0..=24) => EventBody::PageView {
                    path: Cow::Borrowed(PATHS[self.rng.random_range(0..PATHS.len())]),
                    referrer: Some(Cow::Borrowed("https://www.google.com/")),
                    web: self.web(false),
                },
                (Persona::Researcher, 40..=69) => EventBody::Download {
                    asset_id: Cow::Owned(format!("asset-{}", self.rng.random_range(0..12))),
                    asset_kind: [
                        AssetKind::Whitepaper,
                        AssetKind::Ebook,
                        AssetKind::Datasheet,
                        AssetKind::CaseStudy,
                    ][self.rng.random_range(0..4)],
                },
                (Persona::Researcher, 70..=96) => EventBody::Webinar {
                    webinar_id: Cow::Owned(format!("webinar-{}", self.rng.random_range(0..6))),
                    action: [
                        WebinarAction::Registered,
                        WebinarAction::Attended,
                        WebinarAction::OnDemand,
                    ][self.rng.random_range(0..3)],
                    minutes: Some(self.rng.random_range(5..60)),
                },
                (Persona::Researcher, _) => EventBody::Form {
                    form: FormKind::ContactUs,
                },
                (Persona::Buyer, 25..=64) => EventBody::PricingPage {
                    path: Cow::Borrowed("/pricing"),
                    plan: Some(Cow::Borrowed(
                        ["team", "business", "enterprise"][self.rng.random_range(0..3)],
                    )),
                    seconds_on_page: Some(self.rng.random_range(10..400)),
                    web: self.web(false),
                },
                (Persona::Buyer, 65..=89) => EventBody::Download {
                    asset_id: Cow::Owned(format!("case-study-{}", self.rng.random_range(0..5))),
                    asset_kind: AssetKind::CaseStudy,
                },
                (Persona::Buyer, _) => EventBody::Form {
                    form: FormKind::DemoRequest,
                },
            }
        };
        Event {
            event_id: Cow::Owned(format!("ev-{}-{}", self.seq, n)),
            lead_id: Cow::Owned(lead.to_string()),
            occurred_at_ms: self.now_ms,
            body,
        }
    }

    fn malformed(&mut self) -> Record {
        let n = self.rng.random_range(0..self.leads);
        let lead = Traffic::lead_id(n);
        let (event_type, payload) = match self.rng.random_range(0..4) {
            0 => (EventType::PageView, b"{not json".to_vec()),
            1 => (EventType::Download, format!(r#"{{"event_id":"bad-{}","occurred_at":{},"asset_id":"a","asset_kind":"whitepaper"}}"#, self.seq, self.now_ms).into_bytes()),
            2 => (EventType::Webinar, format!(r#"{{"event_id":"bad-{}","lead_id":"{lead}","occurred_at":"last tuesday","webinar_id":"w","action":"attended"}}"#, self.seq).into_bytes()),
            _ => (EventType::PricingPage, format!(r#"{{"event_id":"bad-{}","lead_id":"{lead}","occurred_at":{},"type":"download","asset_id":"x","asset_kind":"ebook"}}"#, self.seq, self.now_ms).into_bytes()),
        };
        Record {
            event_type,
            key: lead,
            payload,
            timestamp_ms: self.now_ms,
            event_id: None,
        }
    }
}
