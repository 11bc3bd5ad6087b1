//! `replay` with lines decoded ahead on a second thread gives the same
//! output, the same rejected lines and the same summary as decoding them
//! one by one on the replaying thread, on a file with everything a real
//! one has: late events, producer retries, bots, malformed, oversized and
//! blank lines, an event beyond the horizon, decay recycles, and many
//! batches of lines.

use std::io;

use leadscore::codec::{decode_event, encode_event, DecodeLimits, Format};
use leadscore::demo::{Traffic, TrafficMix};
use leadscore::model::Model;
use leadscore::replay::{replay, ReplayError, ReplayOptions};

/// 2026-06-01T00:00:00Z.
const START_MS: i64 = 1_780_272_000_000;

/// 40 000 lines: demo traffic for 8 000 leads, a record every 2.5 minutes of event
/// time on average (ten weeks), with old lines repeated (duplicates, and
/// late once the watermark has moved on), old events under new ids (late),
/// and blank, oversized and far-future lines.
fn input() -> Vec<u8> {
    let mix = TrafficMix {
        bots_per_mille: 20,
        duplicates_per_mille: 10,
        malformed_per_mille: 10,
    };
    let mut traffic = Traffic::new(7, 8_000, START_MS, 150_000, mix);
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for i in 0..40_000usize {
        let line = match i % 1000 {
            101 if i > 5000 => lines[i - 3000].clone(),
            202 if i > 5000 => {
                // An old event under a new id: late, not a duplicate.
                let old = lines[i - 4000].clone();
                match decode_event(&old, Format::Json, None, None, &limits) {
                    Ok(mut e) => {
                        e.event_id = format!("late-{i}").into();
                        encode_event(&e, Format::Json)
                    }
                    Err(_) => old,
                }
            }
            303 => b"   ".to_vec(),
            404 => vec![b'x'; 70_000],
            505 if i == 20_505 => {
                br#"{"event_id":"future","lead_id":"l-1","occurred_at":"2100-01-01T00:00:00Z","type":"form","form":"contact_us"}"#.to_vec()
            }
            _ => traffic.next_record().payload,
        };
        lines.push(line);
    }
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    out
}

/// What one replay gave: its output, its rejected lines (number and
/// reason), its summary without the timing, or its error.
#[derive(Debug, PartialEq)]
struct Outcome {
    output: Vec<u8>,
    rejected: Vec<(u64, String)>,
    summary: Result<String, String>,
}

fn run(input: &[u8], strict: bool, decode_ahead: bool) -> Outcome {
    let model = Model::builtin();
    let options = ReplayOptions {
        strict,
        decode_ahead,
        ..ReplayOptions::default()
    };
    let mut output = Vec::new();
    let mut rejected = Vec::new();
    let summary = replay(
        &model,
        input,
        &mut output,
        &options,
        &mut |r| {
            rejected.push((r.line, r.reason.to_string()));
            Ok(())
        },
        &indicatif::ProgressBar::hidden(),
    );
    let summary = summary
        .map(|s| {
            // Everything but the first line's events/s.
            let text = s.render(&model.version);
            let rest = text.split_once('\n').map_or("", |(_, r)| r).to_string();
            format!(
                "{} lines {} leads {} evicted {} invalid {} beyond\n{rest}",
                s.lines, s.leads, s.evicted, s.invalid, s.beyond_horizon
            )
        })
        .map_err(|e| e.to_string());
    Outcome {
        output,
        rejected,
        summary,
    }
}

#[test]
fn decoding_ahead_changes_nothing_in_the_output() {
    let input = input();
    let one = run(&input, false, false);
    let ahead = run(&input, false, true);
    let summary = one.summary.as_ref().expect("replay");
    // The file exercises what it claims to.
    for part in [
        "duplicate",
        "late",
        "bot",
        "mql -> lead",
        "beyond the --max-future",
    ] {
        let text = format!("{summary}{}", String::from_utf8_lossy(&one.output));
        assert!(text.contains(part), "{part} missing from:\n{summary}");
    }
    for outcome in ["duplicate", "late", "bot"] {
        let n: u64 = summary
            .lines()
            .find(|l| l.trim_start().starts_with(outcome))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(n > 0, "no {outcome} event:\n{summary}");
    }
    assert!(one.rejected.len() > 300, "{} rejected", one.rejected.len());
    assert!(
        one.output.iter().filter(|&&b| b == b'\n').count() > 100,
        "few changes:\n{summary}"
    );
    assert!(one == ahead, "decoding ahead changed the replay");
    // And it is deterministic run to run.
    assert!(run(&input, false, true) == ahead);
}

#[test]
fn a_strict_replay_stops_at_the_same_line_either_way() {
    let input = input();
    let one = run(&input, true, false);
    let ahead = run(&input, true, true);
    let err = one.summary.as_ref().expect_err("a malformed line stops it");
    assert!(err.starts_with("line "), "{err}");
    assert_eq!(one.rejected.len(), 1);
    assert!(one == ahead, "decoding ahead changed the strict replay");
}

#[test]
fn a_read_error_is_reported_after_the_lines_before_it_either_way() {
    /// The input, then an error instead of its end.
    struct Failing<'a>(&'a [u8]);
    impl io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the disk went away"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let input = input();
    let model = Model::builtin();
    let mut outputs = Vec::new();
    for decode_ahead in [false, true] {
        let options = ReplayOptions {
            decode_ahead,
            ..ReplayOptions::default()
        };
        let mut output = Vec::new();
        let err = replay(
            &model,
            io::BufReader::new(Failing(&input)),
            &mut output,
            &options,
            &mut |_| Ok(()),
            &indicatif::ProgressBar::hidden(),
        )
        .expect_err("the read fails");
        assert!(
            matches!(&err, ReplayError::Read { line: 40_001, .. }),
            "{err}"
        );
        outputs.push(output);
    }
    assert!(!outputs[0].is_empty());
    assert!(outputs[0] == outputs[1]);
}
