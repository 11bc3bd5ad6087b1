//! Resident memory per lead in a task's lead map, at 1M and 10M leads with
//! 36-character lead ids (`cargo bench --bench lead_memory`; set
//! LEADSCORE_BENCH_LEADS=1000000 to run one size). Two shapes: a lead that
//! has only been seen once (one page view) and a lead with a typical
//! history (profile, page views, a download, a webinar). Each figure is
//! taken in a fresh process, with the allocator the binary ships with.

use std::borrow::Cow;
use std::time::Instant;

use leadscore::demo::Traffic;
use leadscore::engine::TaskState;
use leadscore::event::{AssetKind, Event, EventBody, Profile, WebContext, WebinarAction};
use leadscore::model::{Model, DEFAULT_MODEL_TOML};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn events_for(lead: &str, n: u64, typical: bool, t0: i64) -> Vec<Event<'static>> {
    let lead: Cow<'static, str> = Cow::Owned(lead.to_string());
    let ev = |k: u64, at: i64, body: EventBody<'static>| Event {
        event_id: Cow::Owned(format!("e{n}-{k}")),
        lead_id: lead.clone(),
        occurred_at_ms: at,
        body,
    };
    let web = WebContext::default();
    let mut v = vec![ev(
        0,
        t0,
        EventBody::PageView {
            path: Cow::Borrowed("/product"),
            referrer: None,
            web: web.clone(),
        },
    )];
    if typical {
        v.push(ev(
            1,
            t0 + 1,
            EventBody::Profile(Profile {
                industry: Some(Cow::Borrowed("software")),
                employees: Some(300),
                annual_revenue_usd: None,
                country: Some(Cow::Borrowed("US")),
            }),
        ));
        v.push(ev(
            2,
            t0 + 2,
            EventBody::PageView {
                path: Cow::Borrowed("/pricing-faq"),
                referrer: None,
                web,
            },
        ));
        v.push(ev(
            3,
            t0 + 3,
            EventBody::Download {
                asset_id: Cow::Borrowed("wp-1"),
                asset_kind: AssetKind::Whitepaper,
            },
        ));
        v.push(ev(
            4,
            t0 + 4,
            EventBody::Webinar {
                webinar_id: Cow::Borrowed("w-1"),
                action: WebinarAction::Registered,
                minutes: None,
            },
        ));
    }
    v
}

fn measure(leads: u64, typical: bool) {
    // Eviction off: each lead's events lie an hour after the previous
    // lead's, so 10M leads span 1 141 years of event time, and the default
    // model would forget all but the last 180 days' worth.
    let model = Model::from_toml(
        &format!("{DEFAULT_MODEL_TOML}\n[eviction]\nevict_after_days = 0.0\n"),
        "default model without eviction",
    )
    .expect("valid model");
    let mut state = TaskState::default();
    // Each lead's events are an hour of event time after the previous
    // lead's, so the hourly sweep prunes the event-id dedupe window (which
    // is per event, not per lead) and the figure is the lead map alone.
    let t0 = 1_000_000_000_000i64;
    let before = rss_bytes();
    let start = Instant::now();
    for n in 0..leads {
        let id = Traffic::lead_id(n);
        for e in events_for(&id, n, typical, t0 + n as i64 * 3_600_000) {
            state.apply(&model, &e);
        }
    }
    let elapsed = start.elapsed();
    let total = rss_bytes().saturating_sub(before);
    println!(
        "{:>10} leads ({:<28}): {:>6.1} bytes/lead resident (dedupe window {} entries), built in {:.1}s",
        leads,
        if typical { "typical history, 5 events" } else { "one page view" },
        total as f64 / leads as f64,
        state.seen().len(),
        elapsed.as_secs_f64()
    );
    assert_eq!(state.lead_count() as u64, leads);
    drop(state);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes: Vec<u64> = match std::env::var("LEADSCORE_BENCH_LEADS") {
        Ok(v) => vec![v.parse().expect("LEADSCORE_BENCH_LEADS is a number")],
        Err(_) => vec![1_000_000, 10_000_000],
    };
    // Each figure in a process of its own: an allocator keeps memory freed
    // by a previous measurement for reuse, and the next one's resident set
    // would not grow by what it takes.
    if let Ok(case) = std::env::var(CASE) {
        let (n, typical) = case.split_once(':').expect("leads:typical");
        measure(n.parse().expect("leads"), typical == "true");
        return;
    }
    let me = std::env::current_exe().expect("this bench's executable");
    for n in sizes {
        for typical in [false, true] {
            let status = std::process::Command::new(&me)
                .env(CASE, format!("{n}:{typical}"))
                .status()
                .expect("run one measurement");
            assert!(status.success(), "measurement {n}:{typical}: {status}");
        }
    }
}

/// Set in the child process that takes one measurement: `leads:typical`.
const CASE: &str = "LEADSCORE_BENCH_MEMORY_CASE";
