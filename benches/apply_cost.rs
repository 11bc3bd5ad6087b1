//! Instructions per event of decoding and applying, measured with
//! callgrind, whose counts repeat from run to run on a machine where wall
//! time does not (BENCHMARKS.md, "Engine").
//!
//! ```sh
//! cargo bench --bench apply_cost --no-run
//! valgrind --tool=callgrind --toggle-collect='*apply_cost::measure_*' \
//!     target/release/deps/apply_cost-<hash> --bench
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep measure_
//! ```
//!
//! Each `measure_*` function runs one phase over the same 100 000 records
//! of the demo traffic generator (50 000 leads, 2% bots, 1% duplicates),
//! so its inclusive instruction count divided by 100 000 is the cost per
//! event. Without valgrind it prints the wall time of each phase.

use std::hint::black_box;
use std::time::Instant;

use leadscore::codec::{decode_event, encode_event, DecodeLimits, Format};
#[path = "common/demo_traffic.rs"]
mod demo_traffic;

use demo_traffic::demo_traffic;
use leadscore::engine::TaskState;
use leadscore::event::{Event, EventType};
use leadscore::model::Model;

/// Records per phase.
const RECORDS: usize = 100_000;

/// Decode limits of a replay: no future-skew check.
fn limits() -> DecodeLimits {
    DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    }
}

/// The demo traffic as `(topic type, JSON payload, protobuf payload)`.
fn records(seed: u64, start_ms: i64) -> Vec<(EventType, Vec<u8>, Vec<u8>)> {
    let mut t = demo_traffic(seed, start_ms);
    (0..RECORDS)
        .map(|_| {
            let r = t.next_record();
            let e = decode_event(&r.payload, Format::Json, None, None, &limits())
                .expect("the generator emits valid events");
            let proto = encode_event(&e, Format::Protobuf);
            (r.event_type, r.payload, proto)
        })
        .collect()
}

/// Decodes every record in `format`, applying nothing.
#[inline(always)]
fn decode_only(recs: &[(EventType, Vec<u8>, Vec<u8>)], format: Format) -> usize {
    let limits = limits();
    let mut ok = 0;
    for (t, json, proto) in recs {
        let p = if format == Format::Json { json } else { proto };
        if black_box(decode_event(p, format, Some(*t), None, &limits)).is_ok() {
            ok += 1;
        }
    }
    ok
}

/// Applies already decoded events.
#[inline(always)]
fn apply_only(state: &mut TaskState, model: &Model, events: &[Event<'_>]) -> usize {
    let mut changes = 0;
    for e in events {
        changes += black_box(state.apply(model, e)).changes.len();
    }
    changes
}

/// Decodes and applies every record in `format`.
#[inline(always)]
fn decode_apply(
    state: &mut TaskState,
    model: &Model,
    recs: &[(EventType, Vec<u8>, Vec<u8>)],
    format: Format,
) -> usize {
    let limits = limits();
    let mut changes = 0;
    for (t, json, proto) in recs {
        let p = if format == Format::Json { json } else { proto };
        if let Ok(e) = decode_event(p, format, Some(*t), None, &limits) {
            changes += black_box(state.apply(model, &e)).changes.len();
        }
    }
    changes
}

// One function per phase, so callgrind reports each on its own line.

#[inline(never)]
fn measure_decode_json(recs: &[(EventType, Vec<u8>, Vec<u8>)]) -> usize {
    black_box(1u8);
    decode_only(recs, Format::Json)
}

#[inline(never)]
fn measure_decode_protobuf(recs: &[(EventType, Vec<u8>, Vec<u8>)]) -> usize {
    black_box(2u8);
    decode_only(recs, Format::Protobuf)
}

#[inline(never)]
fn measure_apply_fresh(state: &mut TaskState, model: &Model, events: &[Event<'_>]) -> usize {
    black_box(3u8);
    apply_only(state, model, events)
}

#[inline(never)]
fn measure_apply_warm(state: &mut TaskState, model: &Model, events: &[Event<'_>]) -> usize {
    black_box(4u8);
    apply_only(state, model, events)
}

#[inline(never)]
fn measure_decode_apply_json(
    state: &mut TaskState,
    model: &Model,
    recs: &[(EventType, Vec<u8>, Vec<u8>)],
) -> usize {
    black_box(5u8);
    decode_apply(state, model, recs, Format::Json)
}

#[inline(never)]
fn measure_decode_apply_protobuf(
    state: &mut TaskState,
    model: &Model,
    recs: &[(EventType, Vec<u8>, Vec<u8>)],
) -> usize {
    black_box(6u8);
    decode_apply(state, model, recs, Format::Protobuf)
}

/// Runs `f` once and prints its wall time per record.
fn timed<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let t = Instant::now();
    let r = f();
    let ns = t.elapsed().as_nanos() as f64 / RECORDS as f64;
    println!("{name:<34} {ns:>8.1} ns/record");
    r
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let model = Model::builtin();
    let t0 = 1_780_000_000_000;
    let first = records(3, t0);
    // The second batch continues the same leads 200 000 s later.
    let second = records(4, t0 + 200_000_000);
    let decode_all = |recs: &'_ [(EventType, Vec<u8>, Vec<u8>)]| -> Vec<Event<'static>> {
        recs.iter()
            .filter_map(|(t, json, _)| {
                decode_event(json, Format::Json, Some(*t), None, &limits())
                    .ok()
                    .map(Event::into_owned)
            })
            .collect()
    };
    let decoded_first = decode_all(&first);
    let decoded_second = decode_all(&second);

    timed("decode json", || measure_decode_json(&first));
    timed("decode protobuf", || measure_decode_protobuf(&first));

    let mut state = TaskState::default();
    timed("decode+apply json, fresh state", || {
        measure_decode_apply_json(&mut state, &model, &first)
    });
    let mut warm = TaskState::default();
    timed("apply, fresh state", || {
        measure_apply_fresh(&mut warm, &model, &decoded_first)
    });
    timed("apply, warm state", || {
        measure_apply_warm(&mut warm, &model, &decoded_second)
    });
    let mut fresh = TaskState::default();
    timed("decode+apply protobuf, fresh state", || {
        measure_decode_apply_protobuf(&mut fresh, &model, &first)
    });
}
