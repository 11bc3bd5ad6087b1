//! The bad-input corpus through `leadscore replay`: every bad line is
//! rejected with its reason, on stderr and in `--rejects`, and the good
//! lines around them give exactly the stage changes they give alone.

mod bad_input;

use std::process::{Command, Output, Stdio};

use bad_input::{corpus, good, Case, Path, T0};
use serde_json::Value;

fn leadscore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run leadscore")
}

/// The replay cases of the corpus.
fn cases() -> Vec<Case> {
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| c.path != Path::KafkaOnly)
        .collect();
    for c in &cases {
        let v = c.value.as_deref().expect("a replay line has a value");
        assert!(
            !v.contains(&b'\n'),
            "{}: a line cannot hold a newline",
            c.name
        );
    }
    cases
}

/// 20 good lines, then each bad line followed by a good one, then 5 good
/// lines: the input, the good lines alone, and the line number of each case.
fn input(cases: &[Case]) -> (Vec<u8>, Vec<u8>, Vec<u64>) {
    let (mut all, mut good_only, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
    let mut line = 0u64;
    let mut n = 0i64;
    let mut push_good = |all: &mut Vec<u8>, line: &mut u64| {
        let g = good(&format!("good-{n}"), T0 + n * 60_000);
        n += 1;
        for out in [&mut *all, &mut good_only] {
            out.extend_from_slice(g.as_bytes());
            out.push(b'\n');
        }
        *line += 1;
    };
    for _ in 0..20 {
        push_good(&mut all, &mut line);
    }
    for c in cases {
        all.extend_from_slice(c.value.as_deref().unwrap());
        all.push(b'\n');
        line += 1;
        numbers.push(line);
        push_good(&mut all, &mut line);
    }
    for _ in 0..5 {
        push_good(&mut all, &mut line);
    }
    (all, good_only, numbers)
}

#[test]
fn every_bad_line_is_rejected_with_its_reason_and_the_good_lines_are_scored_as_alone() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} replay cases", cases.len());
    let (all, good_only, numbers) = input(&cases);
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.jsonl");
    let good_path = dir.path().join("good.jsonl");
    let rejects_path = dir.path().join("rejects.jsonl");
    std::fs::write(&input_path, &all).unwrap();
    std::fs::write(&good_path, &good_only).unwrap();

    let out = leadscore(&[
        "replay",
        "--rejects",
        rejects_path.to_str().unwrap(),
        input_path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "rejected lines do not fail a replay: {stderr}"
    );

    // The good lines give the same bytes as when replayed alone: one
    // change each, none from a bad line.
    let alone = leadscore(&["replay", good_path.to_str().unwrap()]);
    assert!(alone.status.success());
    assert_eq!(out.stdout, alone.stdout, "bad lines change no stage change");
    let goods = good_only.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), goods);

    // stderr lists every rejected line, by number, with its reason.
    let listed: Vec<(u64, &str)> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("line "))
        .map(|l| {
            let (n, reason) = l.split_once(": ").expect("line N: reason");
            (n.parse().expect("line number"), reason)
        })
        .collect();
    assert_eq!(
        listed.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        numbers,
        "every bad line and only those, in order"
    );
    for ((_, reason), c) in listed.iter().zip(&cases) {
        check_reason(c, reason);
    }
    assert!(
        stderr.contains(&format!("invalid       {}", cases.len())),
        "{stderr}"
    );
    assert!(
        stderr.contains("(1 of them beyond the --max-future horizon)"),
        "{stderr}"
    );

    // --rejects has each one with its raw line.
    let rejects = std::fs::read_to_string(&rejects_path).unwrap();
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rejects.len(), cases.len());
    for ((r, c), n) in rejects.iter().zip(&cases).zip(&numbers) {
        assert_eq!(r["line"], *n, "{}", c.name);
        assert_eq!(r["field"], c.field, "{}: {r}", c.name);
        check_reason(c, r["reason"].as_str().unwrap());
        let value = c.value.as_deref().unwrap();
        assert_eq!(r["bytes"], value.len(), "{}", c.name);
        let raw: Vec<u8> = match (r.get("raw"), r.get("raw_hex")) {
            (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
            (None, Some(Value::String(h))) => (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect(),
            other => panic!("{}: raw or raw_hex, not {other:?}", c.name),
        };
        if value.len() > 65_536 {
            assert_eq!(r["truncated"], true, "{}", c.name);
            assert_eq!(raw, value[..65_536], "{}: the first 64 KiB", c.name);
        } else {
            assert!(r.get("truncated").is_none(), "{}", c.name);
            assert_eq!(raw, value, "{}: the line as it came", c.name);
        }
    }
}

/// The reason names the case's field and contains its words.
fn check_reason(c: &Case, reason: &str) {
    let prefix = if c.field == "payload" {
        "payload: ".to_string()
    } else {
        format!("field `{}`: ", c.field)
    };
    assert!(
        reason.starts_with(&prefix) && reason.contains(c.reason),
        "{}: {reason:?} should start with {prefix:?} and contain {:?}",
        c.name,
        c.reason
    );
}

#[test]
fn strict_replay_stops_at_the_first_bad_line_with_a_failure_status() {
    let cases = cases();
    let (all, _, numbers) = input(&cases);
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, &all).unwrap();
    let out = leadscore(&["replay", "--strict", input_path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("line {}: ", numbers[0])) && stderr.contains("--strict"),
        "{stderr}"
    );
    // The 20 good lines before it were replayed.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 20);
}

#[test]
fn an_event_far_in_the_future_changes_nothing_even_as_the_first_line() {
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/events.jsonl"))
            .unwrap();
    let bogus = r#"{"event_id":"bogus-2100","lead_id":"lead-ana-6d1f","occurred_at":"2100-01-01T00:00:00Z","type":"page_view","path":"/pricing"}"#;
    let lines: Vec<&str> = sample.lines().collect();
    let mut with = vec![bogus];
    with.extend(&lines[..10]);
    with.push(bogus);
    with.extend(&lines[10..]);
    let dir = tempfile::tempdir().unwrap();
    let (plain, bogus_path) = (
        dir.path().join("plain.jsonl"),
        dir.path().join("bogus.jsonl"),
    );
    std::fs::write(&plain, &sample).unwrap();
    std::fs::write(&bogus_path, with.join("\n")).unwrap();

    let a = leadscore(&["replay", plain.to_str().unwrap()]);
    let b = leadscore(&["replay", bogus_path.to_str().unwrap()]);
    assert!(a.status.success() && b.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "the year-2100 event is refused, twice");
    let stderr = String::from_utf8_lossy(&b.stderr);
    for n in [1, 12] {
        assert!(
            stderr.contains(&format!(
                "line {n}: field `occurred_at`: 2100-01-01T00:00:00.000Z is too far in the future"
            )),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("beyond the --max-future horizon of 7d"),
        "{stderr}"
    );

    // Without the horizon it is taken: the watermark jumps to 2100, every
    // later event is late, and no lead moves.
    let off = leadscore(&[
        "replay",
        "--max-future",
        "off",
        bogus_path.to_str().unwrap(),
    ]);
    assert!(off.status.success());
    assert!(off.stdout.is_empty());
    let late: u64 = String::from_utf8_lossy(&off.stderr)
        .lines()
        .find_map(|l| l.trim().strip_prefix("late"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a late count");
    assert!(late >= 30, "{late}");
}

#[test]
fn a_line_over_the_limit_is_rejected_and_the_next_line_is_read() {
    // 5 MB on one line, under a 1 KiB limit.
    let mut input = format!(r#"{{"x":"{}"}}"#, "a".repeat(5_000_000)).into_bytes();
    input.push(b'\n');
    input.extend_from_slice(good("after", T0).as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let (path, rejects) = (dir.path().join("in.jsonl"), dir.path().join("r.jsonl"));
    std::fs::write(&path, &input).unwrap();
    let out = leadscore(&[
        "replay",
        "--max-record-bytes",
        "1024",
        "--rejects",
        rejects.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: payload: record is 5000008 bytes, over the limit of 1024 bytes"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"lead_id\":\"after\""));
    let r: Value = serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(r["bytes"], 5_000_008);
    assert_eq!(r["truncated"], true);
    assert_eq!(r["raw"].as_str().unwrap().len(), 1024);
}

#[test]
fn replay_refuses_an_id_limit_over_what_the_engine_keeps() {
    let out = leadscore(&["replay", "--max-id-bytes", "1025", "-"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-id-bytes 1025") && stderr.contains("1024"),
        "{stderr}"
    );
}
