//! The bad-input corpus: hostile, malformed, oversized, deep, binary and
//! spoofed records, each with the field and the words its rejection must
//! name. `bad_input_replay.rs` sends the JSON ones through `leadscore
//! replay`, `bad_input_kafka.rs` sends all of them through the pipeline,
//! each time between good records that must still be scored.
//!
//! Records are generated (not a data file) because several are not text:
//! invalid UTF-8, NUL bytes, protobuf garbage, a 70 kB record, a null value.

#![allow(dead_code)]

use leadscore::codec::proto;
use leadscore::event::EventType;
use prost::Message;

/// Where a case applies: some records only exist on one path (a replay
/// line cannot hold a newline or be null; a typed topic makes `type`
/// optional and can contradict it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Both,
    ReplayOnly,
    KafkaOnly,
}

/// One bad record.
#[derive(Debug, Clone)]
pub struct Case {
    /// What it is, for failure messages.
    pub name: &'static str,
    /// The typed topic it is produced to (on the pipeline path).
    pub topic: EventType,
    /// Sent to the topic configured `format = "protobuf"` (the profile topic).
    pub protobuf: bool,
    /// The record value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The field the reason must name (`payload` for the record as a whole).
    pub field: &'static str,
    /// Words the reason must contain.
    pub reason: &'static str,
    pub path: Path,
    /// Headers the producer sets (a spoofed `leadscore.*` reason).
    pub headers: &'static [(&'static str, &'static str)],
}

/// The event time of the corpus: 2026-09-01T09:00:00Z.
pub const T0: i64 = 1_788_253_200_000;

/// A valid form event of lead `lead`, as JSON, with `fields` replacing or
/// adding to `event_id`, `lead_id`, `occurred_at`, `type`, `form`: each
/// `(name, raw JSON)` pair; a `None` JSON drops the field.
pub fn form_with(lead: &str, fields: &[(&str, Option<&str>)]) -> String {
    let event_id = format!("\"ev-{lead}\"");
    let lead_id = format!("\"{lead}\"");
    let mut base: Vec<(String, Option<String>)> = vec![
        ("event_id".into(), Some(event_id)),
        ("lead_id".into(), Some(lead_id)),
        (
            "occurred_at".into(),
            Some("\"2026-09-01T09:00:00Z\"".into()),
        ),
        ("type".into(), Some("\"form\"".into())),
        ("form".into(), Some("\"contact_us\"".into())),
    ];
    for (k, v) in fields {
        match base.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v.map(str::to_string),
            None => base.push((k.to_string(), v.map(str::to_string))),
        }
    }
    let parts: Vec<String> = base
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("\"{k}\":{v}")))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A good record: a `contact_us` form of `lead` at `at_ms`, which moves
/// the lead to MQL at once (one stage change each).
pub fn good(lead: &str, at_ms: i64) -> String {
    format!(
        r#"{{"event_id":"ev-{lead}","lead_id":"{lead}","occurred_at":{at_ms},"type":"form","form":"contact_us"}}"#
    )
}

/// A protobuf form event with the given ids, time and payload.
fn proto_event(
    event_id: &str,
    lead_id: &str,
    at_ms: i64,
    payload: Option<proto::event::Payload>,
) -> Vec<u8> {
    proto::Event {
        event_id: event_id.into(),
        lead_id: lead_id.into(),
        occurred_at_ms: at_ms,
        payload,
    }
    .encode_to_vec()
}

fn proto_profile() -> Option<proto::event::Payload> {
    Some(proto::event::Payload::Profile(proto::Profile {
        industry: Some("Software".into()),
        ..Default::default()
    }))
}

fn nest(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// Every bad record, at least 60 of them; `lead` names the lead of case
/// `i` so good and bad records never share a lead.
pub fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &'static str,
                   topic: EventType,
                   value: Option<Vec<u8>>,
                   field: &'static str,
                   reason: &'static str,
                   path: Path| {
        cases.push(Case {
            name,
            topic,
            protobuf: false,
            value,
            field,
            reason,
            path,
            headers: &[],
        })
    };
    use EventType::{Download, Form, PageView, Webinar};
    use Path::{Both, KafkaOnly, ReplayOnly};
    let j = |s: String| Some(s.into_bytes());
    let f = |fields: &[(&str, Option<&str>)]| j(form_with("bad", fields));

    // Not JSON, or not an object.
    let json_err = "not valid JSON";
    add(
        "unclosed object",
        Form,
        j("{not json".into()),
        "payload",
        json_err,
        Both,
    );
    add(
        "truncated record",
        Form,
        j(r#"{"event_id":"e","lead_id":"l""#.into()),
        "payload",
        json_err,
        Both,
    );
    add(
        "trailing characters",
        Form,
        j(format!("{} x", form_with("bad", &[]))),
        "payload",
        json_err,
        Both,
    );
    add(
        "single quotes",
        Form,
        j("{'event_id':'e'}".into()),
        "payload",
        json_err,
        Both,
    );
    add(
        "trailing comma",
        Form,
        j(r#"{"event_id":"e",}"#.into()),
        "payload",
        json_err,
        Both,
    );
    add(
        "NaN literal",
        Form,
        f(&[("x", Some("NaN"))]),
        "payload",
        json_err,
        Both,
    );
    add(
        "byte order mark",
        Form,
        Some([b"\xef\xbb\xbf".as_slice(), form_with("bad", &[]).as_bytes()].concat()),
        "payload",
        json_err,
        Both,
    );
    add(
        "array",
        Form,
        j("[1,2,3]".into()),
        "payload",
        "expected a JSON object, got an array",
        Both,
    );
    add(
        "string",
        Form,
        j(r#""just a string""#.into()),
        "payload",
        "expected a JSON object, got a string",
        Both,
    );
    add(
        "number",
        Form,
        j("42".into()),
        "payload",
        "expected a JSON object, got a number",
        Both,
    );
    add(
        "null literal",
        Form,
        j("null".into()),
        "payload",
        "expected a JSON object, got null",
        Both,
    );
    add(
        "boolean",
        Form,
        j("true".into()),
        "payload",
        "expected a JSON object, got a boolean",
        Both,
    );
    add(
        "two objects",
        Form,
        j(format!("{0}{0}", form_with("bad", &[]))),
        "payload",
        json_err,
        Both,
    );

    // Wrong types.
    add(
        "event_id number",
        Form,
        f(&[("event_id", Some("5"))]),
        "event_id",
        "expected a string, got number 5",
        Both,
    );
    add(
        "lead_id array",
        Form,
        f(&[("lead_id", Some(r#"["a"]"#))]),
        "lead_id",
        "expected a string, got array",
        Both,
    );
    add(
        "lead_id object",
        Form,
        f(&[("lead_id", Some(r#"{"id":"a"}"#))]),
        "lead_id",
        "expected a string, got object",
        Both,
    );
    add(
        "lead_id boolean",
        Form,
        f(&[("lead_id", Some("true"))]),
        "lead_id",
        "expected a string, got boolean",
        Both,
    );
    add(
        "type number",
        Form,
        f(&[("type", Some("3"))]),
        "type",
        "expected a string",
        Both,
    );
    add(
        "form number",
        Form,
        f(&[("form", Some("1"))]),
        "form",
        "expected a string",
        Both,
    );
    add(
        "occurred_at boolean",
        Form,
        f(&[("occurred_at", Some("false"))]),
        "occurred_at",
        "got boolean",
        Both,
    );
    add(
        "occurred_at float",
        Form,
        f(&[("occurred_at", Some("1788253200000.5"))]),
        "occurred_at",
        "got number",
        Both,
    );
    let webinar = |minutes: &str| {
        j(form_with(
            "bad",
            &[
                ("type", Some("\"webinar\"")),
                ("form", None),
                ("webinar_id", Some("\"w-1\"")),
                ("action", Some("\"attended\"")),
                ("minutes", Some(minutes)),
            ],
        )
        .replace("\"ev-bad\"", "\"ev-bad-w\""))
    };
    add(
        "minutes string",
        Webinar,
        webinar("\"48\""),
        "minutes",
        "expected a non-negative integer, got string",
        Both,
    );
    add(
        "minutes negative",
        Webinar,
        webinar("-5"),
        "minutes",
        "expected a non-negative integer, got number -5",
        Both,
    );
    add(
        "minutes over 32 bits",
        Webinar,
        webinar("5000000000"),
        "minutes",
        "out of range",
        Both,
    );

    // Missing fields.
    let missing = "required but missing";
    add(
        "no event_id",
        Form,
        f(&[("event_id", None)]),
        "event_id",
        missing,
        Both,
    );
    add(
        "no lead_id",
        Form,
        f(&[("lead_id", None)]),
        "lead_id",
        missing,
        Both,
    );
    add(
        "no occurred_at",
        Form,
        f(&[("occurred_at", None)]),
        "occurred_at",
        missing,
        Both,
    );
    add("no form", Form, f(&[("form", None)]), "form", missing, Both);
    add(
        "empty object",
        Form,
        j("{}".into()),
        "event_id",
        missing,
        Both,
    );
    add(
        "lead_id null",
        Form,
        f(&[("lead_id", Some("null"))]),
        "lead_id",
        missing,
        Both,
    );
    add(
        "page view without url or path",
        PageView,
        j(form_with(
            "bad",
            &[("type", Some("\"page_view\"")), ("form", None)],
        )),
        "url",
        missing,
        Both,
    );
    add(
        "download without asset_kind",
        Download,
        j(form_with(
            "bad",
            &[
                ("type", Some("\"download\"")),
                ("form", None),
                ("asset_id", Some("\"wp-1\"")),
            ],
        )),
        "asset_kind",
        missing,
        Both,
    );
    add(
        "profile without attributes",
        EventType::Profile,
        j(form_with(
            "bad",
            &[("type", Some("\"profile\"")), ("form", None)],
        )),
        "profile",
        "needs at least one of",
        ReplayOnly,
    );
    add(
        "no type in a replay",
        Form,
        f(&[("type", None)]),
        "type",
        missing,
        ReplayOnly,
    );

    // Empty values.
    let empty = "must not be empty";
    add(
        "event_id empty",
        Form,
        f(&[("event_id", Some("\"\""))]),
        "event_id",
        empty,
        Both,
    );
    add(
        "lead_id blank",
        Form,
        f(&[("lead_id", Some("\"   \""))]),
        "lead_id",
        empty,
        Both,
    );
    add(
        "path empty",
        PageView,
        j(form_with(
            "bad",
            &[
                ("type", Some("\"page_view\"")),
                ("form", None),
                ("path", Some("\"\"")),
            ],
        )),
        "path",
        empty,
        Both,
    );
    add(
        "url empty",
        PageView,
        j(form_with(
            "bad",
            &[
                ("type", Some("\"page_view\"")),
                ("form", None),
                ("url", Some("\"\"")),
            ],
        )),
        "url",
        empty,
        Both,
    );
    add(
        "url not a url",
        PageView,
        j(form_with(
            "bad",
            &[
                ("type", Some("\"page_view\"")),
                ("form", None),
                ("url", Some("\"example.com/x\"")),
            ],
        )),
        "url",
        "neither an absolute URL",
        Both,
    );
    add(
        "empty record",
        Form,
        Some(Vec::new()),
        "payload",
        "record is empty",
        KafkaOnly,
    );
    add(
        "whitespace record",
        Form,
        j("   ".into()),
        "payload",
        json_err,
        KafkaOnly,
    );

    // Unknown event types and vocabularies.
    add(
        "unknown type",
        Form,
        f(&[("type", Some("\"purchase\""))]),
        "type",
        "is not one of",
        ReplayOnly,
    );
    add(
        "unknown type on a typed topic",
        Form,
        f(&[("type", Some("\"purchase\""))]),
        "type",
        "this topic carries form events",
        KafkaOnly,
    );
    add(
        "type of another topic",
        Form,
        f(&[("type", Some("\"page_view\""))]),
        "type",
        "this topic carries form events",
        KafkaOnly,
    );
    add(
        "type in capitals",
        Form,
        f(&[("type", Some("\"Form\""))]),
        "type",
        "\"Form\"",
        Both,
    );
    add(
        "unknown form",
        Form,
        f(&[("form", Some("\"call_me\""))]),
        "form",
        "is not one of contact_us",
        Both,
    );
    add(
        "unknown asset kind",
        Download,
        j(form_with(
            "bad",
            &[
                ("type", Some("\"download\"")),
                ("form", None),
                ("asset_id", Some("\"wp-1\"")),
                ("asset_kind", Some("\"pdf\"")),
            ],
        )),
        "asset_kind",
        "is not one of",
        Both,
    );
    add(
        "unknown webinar action",
        Webinar,
        j(form_with(
            "bad",
            &[
                ("type", Some("\"webinar\"")),
                ("form", None),
                ("webinar_id", Some("\"w-1\"")),
                ("action", Some("\"watched\"")),
            ],
        )),
        "action",
        "is not one of",
        Both,
    );

    // Oversized record and ids.
    let filler = format!("\"{}\"", "a".repeat(70_000));
    add(
        "record over 64 KiB",
        Form,
        j(form_with("bad", &[("x", Some(filler.as_str()))])),
        "payload",
        "over the limit of 65536 bytes",
        Both,
    );
    let l257 = format!("\"{}\"", "L".repeat(257));
    add(
        "lead_id of 257 bytes",
        Form,
        f(&[("lead_id", Some(l257.as_str()))]),
        "lead_id",
        "is 257 bytes long, over the limit of 256 bytes",
        Both,
    );
    let l2000 = format!("\"{}\"", "L".repeat(2000));
    add(
        "lead_id of 2000 bytes",
        Form,
        f(&[("lead_id", Some(l2000.as_str()))]),
        "lead_id",
        "over the limit of 256 bytes",
        Both,
    );
    let e1000 = format!("\"{}\"", "E".repeat(1000));
    add(
        "event_id of 1000 bytes",
        Form,
        f(&[("event_id", Some(e1000.as_str()))]),
        "event_id",
        "is 1000 bytes long, over the limit of 256 bytes",
        Both,
    );
    let wide = format!("\"{}\"", "é".repeat(129));
    add(
        "lead_id of 129 two-byte characters",
        Form,
        f(&[("lead_id", Some(wide.as_str()))]),
        "lead_id",
        "is 258 bytes long",
        Both,
    );

    // Control characters and invalid UTF-8.
    add(
        "raw control character in lead_id",
        Form,
        f(&[("lead_id", Some("\"a\u{1}b\""))]),
        "lead_id",
        "control character",
        Both,
    );
    add(
        "raw tab in form",
        Form,
        f(&[("form", Some("\"contact\tus\""))]),
        "form",
        "control character",
        Both,
    );
    add(
        "raw newline in a string",
        Form,
        f(&[("lead_id", Some("\"a\nb\""))]),
        "lead_id",
        "control character",
        KafkaOnly,
    );
    add(
        "NUL byte between fields",
        Form,
        j(form_with("bad", &[]).replacen(',', ",\u{0}", 1)),
        "payload",
        json_err,
        Both,
    );
    add(
        "invalid UTF-8 byte",
        Form,
        Some(
            form_with("bad", &[])
                .replace("contact_us", "contact_us\u{7f}")
                .into_bytes()
                .into_iter()
                .map(|b| if b == 0x7f { 0xff } else { b })
                .collect(),
        ),
        "payload",
        "not valid UTF-8",
        Both,
    );
    add(
        "overlong UTF-8",
        Form,
        Some(
            [
                br#"{"event_id":"e","lead_id":""#.as_slice(),
                b"\xc0\xaf",
                br#"","occurred_at":0}"#,
            ]
            .concat(),
        ),
        "payload",
        "not valid UTF-8",
        Both,
    );
    add(
        "truncated UTF-8 at the end",
        Form,
        Some([form_with("bad", &[]).as_bytes(), b"\xe2\x82"].concat()),
        "payload",
        "not valid UTF-8",
        Both,
    );
    add(
        "lone surrogate escape",
        Form,
        f(&[("lead_id", Some(r#""\ud800""#))]),
        "lead_id",
        "hex escape",
        Both,
    );

    // Bad timestamps.
    add(
        "digit string timestamp",
        Form,
        f(&[("occurred_at", Some("\"1788256800000\""))]),
        "occurred_at",
        "is a string of digits",
        Both,
    );
    add(
        "words for a timestamp",
        Form,
        f(&[("occurred_at", Some("\"last tuesday\""))]),
        "occurred_at",
        "neither RFC 3339 nor epoch milliseconds",
        Both,
    );
    add(
        "date without time",
        Form,
        f(&[("occurred_at", Some("\"2026-09-01\""))]),
        "occurred_at",
        "neither RFC 3339",
        Both,
    );
    add(
        "month 13",
        Form,
        f(&[("occurred_at", Some("\"2026-13-01T09:00:00Z\""))]),
        "occurred_at",
        "not a valid RFC 3339 date-time",
        Both,
    );
    add(
        "negative epoch",
        Form,
        f(&[("occurred_at", Some("-5"))]),
        "occurred_at",
        "before 1970",
        Both,
    );
    add(
        "before 1970",
        Form,
        f(&[("occurred_at", Some("\"1969-12-31T23:59:59Z\""))]),
        "occurred_at",
        "before 1970",
        Both,
    );
    add(
        "after year 9999",
        Form,
        f(&[("occurred_at", Some("253402300800000"))]),
        "occurred_at",
        "after 9999-12-31",
        Both,
    );
    add(
        "epoch beyond u64",
        Form,
        f(&[("occurred_at", Some("99999999999999999999999"))]),
        "occurred_at",
        "got number",
        Both,
    );
    add(
        "year 2100",
        Form,
        f(&[("occurred_at", Some("\"2100-01-01T00:00:00Z\""))]),
        "occurred_at",
        "in the future",
        Both,
    );

    // Deep nesting.
    let deep = nest(30_000);
    add(
        "unknown field nested 30 000 deep",
        Form,
        f(&[("x", Some(deep.as_str()))]),
        "payload",
        "nested more than 64 levels deep",
        Both,
    );
    let n65 = nest(65);
    add(
        "unknown field nested 65 deep",
        Form,
        f(&[("x", Some(n65.as_str()))]),
        "payload",
        "nested more than 64 levels deep",
        Both,
    );
    let n1000 = nest(1000);
    add(
        "known field nested 1000 deep",
        Form,
        f(&[("form", Some(n1000.as_str()))]),
        "payload",
        "nested more than 64 levels deep",
        Both,
    );

    // Repeated fields.
    let twice = "appears more than once";
    add(
        "lead_id twice",
        Form,
        j(form_with("bad", &[]).replace(
            "\"lead_id\":\"bad\"",
            "\"lead_id\":\"bad\",\"lead_id\":\"other\"",
        )),
        "lead_id",
        twice,
        Both,
    );
    add(
        "occurred_at twice",
        Form,
        j(form_with("bad", &[]).replace("\"type\"", "\"occurred_at\":0,\"type\"")),
        "occurred_at",
        twice,
        Both,
    );
    add(
        "type twice",
        Form,
        j(form_with("bad", &[]).replace("\"form\":", "\"type\":\"form\",\"form\":")),
        "type",
        twice,
        Both,
    );

    // Spoofed: a record that carries our headers is still judged by us.
    add(
        "forged reason header",
        Form,
        j("{\"forged\":".into()),
        "payload",
        json_err,
        KafkaOnly,
    );

    // A tombstone.
    add(
        "null value",
        Form,
        None,
        "payload",
        "the record value is null (a tombstone)",
        KafkaOnly,
    );

    if let Some(c) = cases.iter_mut().find(|c| c.name == "forged reason header") {
        c.headers = &[
            ("leadscore.error", "forged: all is well"),
            ("leadscore.source.offset", "999"),
        ];
    }

    // Protobuf garbage, on the protobuf topic.
    let mut protos: Vec<(&'static str, Vec<u8>, &'static str, &'static str)> = vec![
        (
            "random bytes",
            vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x13, 0x37],
            "payload",
            "not a valid leadscore.v1.Event protobuf message",
        ),
        (
            "JSON on a protobuf topic",
            form_with("bad", &[]).into_bytes(),
            "payload",
            "not a valid leadscore.v1.Event protobuf message",
        ),
        (
            "length past the end",
            vec![0x0a, 0xff, 0xff, 0xff, 0x0f, b'x'],
            "payload",
            "not a valid leadscore.v1.Event protobuf message",
        ),
        (
            "no payload set",
            proto_event("e", "bad", T0, None),
            "payload",
            "no event is set in the `payload` oneof",
        ),
        (
            "proto lead_id unset",
            proto_event("e", "", T0, proto_profile()),
            "lead_id",
            missing,
        ),
        (
            "proto event_id unset",
            proto_event("", "bad", T0, proto_profile()),
            "event_id",
            missing,
        ),
        (
            "proto lead_id of 300 bytes",
            proto_event("e", &"L".repeat(300), T0, proto_profile()),
            "lead_id",
            "is 300 bytes long, over the limit of 256 bytes",
        ),
        (
            "proto time unset",
            proto_event("e", "bad", 0, proto_profile()),
            "occurred_at_ms",
            missing,
        ),
        (
            "proto time before 1970",
            proto_event("e", "bad", -1, proto_profile()),
            "occurred_at_ms",
            "before 1970",
        ),
        (
            "proto payload of another topic",
            proto_event(
                "e",
                "bad",
                T0,
                Some(proto::event::Payload::Form(proto::Form {
                    form: proto::FormKind::ContactUs as i32,
                })),
            ),
            "payload",
            "this topic carries profile events",
        ),
        (
            "proto invalid UTF-8 string",
            [
                vec![0x0a, 0x02, 0xff, 0xfe],
                proto_event("", "bad", T0, proto_profile()),
            ]
            .concat(),
            "payload",
            "not a valid leadscore.v1.Event protobuf message",
        ),
    ];
    for (name, value, field, reason) in protos.drain(..) {
        cases.push(Case {
            name,
            topic: EventType::Profile,
            protobuf: true,
            value: Some(value),
            field,
            reason,
            path: KafkaOnly,
            headers: &[],
        });
    }
    cases
}
