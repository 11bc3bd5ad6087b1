//! decode + apply throughput on one core, JSON and protobuf, with the
//! synthetic traffic of `leadscore demo` (about 200-byte JSON records).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use leadscore::codec::{decode_event, encode_event, DecodeLimits, Format};
#[path = "common/demo_traffic.rs"]
mod demo_traffic;

use demo_traffic::demo_traffic;
use leadscore::engine::TaskState;
use leadscore::event::EventType;
use leadscore::model::Model;

const RECORDS: usize = 100_000;

fn records(format: Format) -> Vec<(EventType, Vec<u8>)> {
    let mut t = demo_traffic(3, 1_780_000_000_000);
    (0..RECORDS)
        .map(|_| {
            let r = t.next_record();
            let payload = match format {
                Format::Json => r.payload,
                Format::Protobuf => {
                    let limits = DecodeLimits {
                        max_future_skew_ms: None,
                        ..DecodeLimits::default()
                    };
                    let e = decode_event(&r.payload, Format::Json, None, None, &limits)
                        .expect("generator emits valid events");
                    encode_event(&e, Format::Protobuf)
                }
            };
            (r.event_type, payload)
        })
        .collect()
}

fn decode_and_apply(c: &mut Criterion) {
    let model = Model::builtin();
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    };
    let mut group = c.benchmark_group("decode_apply");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    for (name, format) in [("json", Format::Json), ("protobuf", Format::Protobuf)] {
        let recs = records(format);
        let avg = recs.iter().map(|(_, p)| p.len()).sum::<usize>() / recs.len();
        eprintln!("{name}: {RECORDS} records, {avg} bytes on average");
        group.bench_with_input(BenchmarkId::new(name, RECORDS), &recs, |b, recs| {
            b.iter_batched(
                TaskState::default,
                |mut state| {
                    for (t, p) in recs {
                        if let Ok(e) = decode_event(p, format, Some(*t), None, &limits) {
                            black_box(state.apply(&model, &e));
                        }
                    }
                    state
                },
                criterion::BatchSize::PerIteration,
            )
        });
        group.bench_with_input(
            BenchmarkId::new(format!("{name}_decode_only"), RECORDS),
            &recs,
            |b, recs| {
                b.iter(|| {
                    for (t, p) in recs {
                        let _ = black_box(decode_event(p, format, Some(*t), None, &limits));
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode_and_apply);
criterion_main!(benches);
