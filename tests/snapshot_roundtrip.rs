//! A task restored from a snapshot is indistinguishable from the task that
//! was captured: same state, and the same stage changes for the same
//! further events (DESIGN.md "State, partitions, snapshots, recovery").

use std::borrow::Cow;

use leadscore::engine::{Applied, Stage, TaskState};
use leadscore::event::{AssetKind, Event, EventBody, FormKind, Profile, WebContext, WebinarAction};
use leadscore::model::Model;
use leadscore::snapshot::{SnapshotStore, WriteOutcome};

const DAY: i64 = 86_400_000;
const MINUTE: i64 = 60_000;

/// Small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn web(ua: &'static str) -> WebContext<'static> {
    WebContext {
        user_agent: Some(Cow::Borrowed(ua)),
        ip: None,
        session_id: None,
    }
}

/// A realistic mix over `leads` leads: buyers (pricing, case studies, demo
/// requests, good-fit profiles), researchers (content, webinars, contact
/// us), browsers and job seekers; with late events, re-sent duplicates and
/// bot traffic. Event time advances from `start_ms`; `jump_at` inserts a
/// 45-day gap (so the decay sweep recycles promoted leads).
fn events(
    rng: &mut Rng,
    seq: &mut u64,
    n: usize,
    leads: u64,
    start_ms: i64,
    jump_at: Option<usize>,
) -> Vec<Event<'static>> {
    let mut out: Vec<Event<'static>> = Vec::with_capacity(n);
    let mut now = start_ms;
    for i in 0..n {
        if Some(i) == jump_at {
            now += 45 * DAY;
        }
        now += rng.below(20) as i64 * MINUTE + rng.below(60_000) as i64;
        let roll = rng.below(100);
        if roll < 4 {
            if let Some(prev) = out.last() {
                // A producer retry: the same event again.
                out.push(prev.clone());
                continue;
            }
        }
        let lead_n = rng.below(leads);
        let lead = format!("{:08x}-0000-4000-8000-{:012x}", lead_n * 7919, lead_n);
        // Some events arrive late (within the allowed lateness).
        let t = if roll < 12 {
            now - rng.below(6 * 60) as i64 * MINUTE
        } else {
            now
        };
        *seq += 1;
        let r = rng.below(100);
        let body = if roll >= 96 {
            EventBody::PageView {
                path: Cow::Borrowed("/"),
                referrer: None,
                web: web("Mozilla/5.0 (compatible; Googlebot/2.1)"),
            }
        } else if r < 8 {
            EventBody::Profile(Profile {
                industry: Some(Cow::Borrowed(if lead_n % 3 == 0 {
                    "software"
                } else {
                    "retail"
                })),
                employees: Some(20 + (lead_n * 97) % 3000),
                annual_revenue_usd: Some(if lead_n % 2 == 0 {
                    150_000_000
                } else {
                    2_000_000
                }),
                country: Some(Cow::Borrowed(["US", "DE", "BR"][(lead_n % 3) as usize])),
            })
        } else {
            match (lead_n % 4, r) {
                (0, 8..=45) => EventBody::PricingPage {
                    path: Cow::Borrowed("/pricing"),
                    plan: Some(Cow::Borrowed("enterprise")),
                    seconds_on_page: Some(120),
                    web: web("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"),
                },
                (0, 46..=75) => EventBody::Download {
                    asset_id: Cow::Owned(format!("cs-{}", rng.below(4))),
                    asset_kind: AssetKind::CaseStudy,
                },
                (0, 76..=85) => EventBody::Form {
                    form: FormKind::DemoRequest,
                },
                (1, 8..=40) => EventBody::Download {
                    asset_id: Cow::Owned(format!("wp-{}", rng.below(6))),
                    asset_kind: AssetKind::Whitepaper,
                },
                (1, 41..=80) => EventBody::Webinar {
                    webinar_id: Cow::Owned(format!("w-{}", rng.below(3))),
                    action: [
                        WebinarAction::Registered,
                        WebinarAction::Attended,
                        WebinarAction::OnDemand,
                    ][rng.below(3) as usize],
                    minutes: Some(30),
                },
                (1, 81..=88) => EventBody::Form {
                    form: FormKind::ContactUs,
                },
                (2, _) => EventBody::PageView {
                    path: Cow::Owned(format!("/careers/{}", rng.below(3))),
                    referrer: None,
                    web: web("Mozilla/5.0 (Macintosh) Safari/605.1.15"),
                },
                _ => EventBody::PageView {
                    path: Cow::Owned(
                        ["/", "/product", "/blog/a", "/blog/b"][rng.below(4) as usize].to_string(),
                    ),
                    referrer: Some(Cow::Borrowed("https://www.google.com/")),
                    web: web("Mozilla/5.0 (Windows NT 10.0) Chrome/126.0"),
                },
            }
        };
        out.push(Event {
            event_id: Cow::Owned(format!("ev-{seq}")),
            lead_id: Cow::Owned(lead),
            occurred_at_ms: t,
            body,
        });
    }
    out
}

/// Asserts two task states are equal in everything that decides a future
/// outcome, bit for bit (the Debug form tells -0.0 from 0.0).
fn assert_same_state(a: &TaskState, b: &TaskState) {
    assert_eq!(a.lead_count(), b.lead_count(), "lead count");
    let (la, lb) = (a.lead_states(), b.lead_states());
    assert_eq!(la.len(), lb.len(), "leads held");
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x.lead_id(), y.lead_id());
        assert_eq!(x, y, "lead {}", x.lead_id());
        assert_eq!(format!("{x:?}"), format!("{y:?}"), "lead {}", x.lead_id());
    }
    assert_eq!(a.promoted(), b.promoted(), "promoted set");
    let expected_promoted: Vec<String> = la
        .iter()
        .filter(|l| l.stage() != Stage::Lead)
        .map(|l| l.lead_id())
        .collect();
    assert_eq!(
        b.promoted(),
        expected_promoted,
        "promoted = leads not in stage lead"
    );
    assert_eq!(a.seen().entries(), b.seen().entries(), "dedupe window");
    assert_eq!(a.seen().cutoff_ms(), b.seen().cutoff_ms(), "dedupe cutoff");
    assert_eq!(a.watermark_ms(), b.watermark_ms(), "watermark");
    assert_eq!(a.last_sweep_ms(), b.last_sweep_ms(), "last sweep");
}

fn apply_all(state: &mut TaskState, model: &Model, events: &[Event<'_>]) -> Vec<Applied> {
    events.iter().map(|e| state.apply(model, e)).collect()
}

#[test]
fn snapshot_restored_state_equals_original_and_behaves_identically() {
    let model = Model::builtin();
    let mut rng = Rng(0x5eed_0001);
    let mut seq = 0;
    let start = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let before = events(&mut rng, &mut seq, 400, 40, start, None);
    let mut original = TaskState::default();
    let applied = apply_all(&mut original, &model, &before);
    assert!(
        !original.promoted().is_empty(),
        "the scenario promotes some leads"
    );
    assert!(applied.iter().any(|a| !a.changes.is_empty()));

    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let offsets = vec![("page_views".to_string(), 400), ("forms".to_string(), 17)];
    let captured =
        SnapshotStore::capture(4, &original, &offsets, &model.version, 1_767_300_000_000)
            .expect("a capture");
    assert_eq!(captured.lead_count(), original.lead_count());
    let path = match store.write(&captured).unwrap() {
        WriteOutcome::Written { path, bytes, .. } => {
            assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
            path
        }
        other => panic!("expected a write, got {other:?}"),
    };

    let loaded = store.load_newest(4);
    assert!(loaded.fallbacks.is_empty(), "{:?}", loaded.fallbacks);
    let restored = loaded.snapshot.expect("a snapshot");
    assert_eq!(restored.path, path);
    assert_eq!(restored.offsets, offsets);
    assert_eq!(restored.model_version, &*model.version);
    assert_eq!(restored.taken_at_ms, 1_767_300_000_000);
    let mut restored = restored.state;
    assert_same_state(&original, &restored);

    // The same further events, including a 45-day gap that makes the sweep
    // recycle leads, give the same outcomes and stage changes.
    let now = original.watermark_ms();
    let after = events(&mut rng, &mut seq, 300, 50, now, Some(150));
    let a = apply_all(&mut original, &model, &after);
    let b = apply_all(&mut restored, &model, &after);
    assert_eq!(a.len(), b.len());
    let mut changes = 0;
    let mut recycled = 0;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x.outcome, y.outcome, "outcome of further event {i}");
        assert_eq!(x.changes, y.changes, "changes of further event {i}");
        changes += x.changes.len();
        recycled += x.changes.iter().filter(|c| c.to == Stage::Lead).count();
    }
    assert!(changes > 0, "the further events change stages");
    assert!(recycled > 0, "the further events recycle leads");
    assert_same_state(&original, &restored);

    // And a second generation snapshot of the restored state restores too.
    let offsets2 = vec![("page_views".to_string(), 700), ("forms".to_string(), 17)];
    let c2 = SnapshotStore::capture(4, &restored, &offsets2, &model.version, 1_767_400_000_000)
        .expect("a capture");
    assert!(matches!(
        store.write(&c2).unwrap(),
        WriteOutcome::Written { .. }
    ));
    let again = store.load_newest(4).snapshot.unwrap();
    assert_eq!(again.offsets, offsets2);
    assert_same_state(&original, &again.state);
}

#[test]
fn snapshot_empty_state_roundtrips() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let empty = TaskState::default();
    let c = SnapshotStore::capture(0, &empty, &[], "default-00000000", 0).expect("a capture");
    store.write(&c).unwrap();
    let r = store.load_newest(0).snapshot.unwrap();
    assert_same_state(&empty, &r.state);
    assert_eq!(r.state.watermark_ms(), i64::MIN);
    assert!(r.offsets.is_empty());
}
