//! Property tests: decoding never panics on any bytes, in either format, and
//! whatever it accepts re-encodes to an equal event; every valid event
//! round-trips.

/// Named `codec` so `cargo test codec` selects these tests.
mod codec {
    use std::borrow::Cow;

    use leadscore::codec::{decode_event, encode_event, DecodeError, DecodeLimits, Format};
    use leadscore::event::{
        AssetKind, Event, EventBody, EventType, FormKind, Profile, WebContext, WebinarAction,
    };
    use proptest::prelude::*;

    const VALID_JSON: &[&str] = &[
        r#"{"event_id":"evt-1","lead_id":"lead-1","occurred_at":"2026-09-01T09:05:00+02:00","type":"page_view","url":"https://example.com/blog/a?utm_source=x","referrer":"https://google.com/","user_agent":"Mozilla/5.0"}"#,
        r#"{"event_id":"evt-2","lead_id":"lead-1","occurred_at":1788685380000,"type":"pricing_page","path":"/pricing","plan":"pro","seconds_on_page":45}"#,
        r#"{"event_id":"evt-3","lead_id":"lead-\u00e9","occurred_at":"2026-09-01T09:30:00Z","type":"download","asset_id":"wp-1","asset_kind":"whitepaper","extra":{"a":[1,2]}}"#,
        r#"{"event_id":"evt-4","lead_id":"lead-1","occurred_at":"2026-09-04T09:00:00Z","type":"webinar","webinar_id":"w-9","action":"attended","minutes":48}"#,
        r#"{"event_id":"evt-5","lead_id":"lead-1","occurred_at":"2026-09-04T09:00:00Z","type":"form","form":"contact_us"}"#,
        r#"{"event_id":"evt-6","lead_id":"lead-1","occurred_at":"2026-09-01T09:00:00Z","type":"profile","industry":"Software","employees":320,"annual_revenue_usd":25000000,"country":"DE"}"#,
    ];

    /// 2026-09-06T09:03:00Z, the wall clock of the skew check.
    const NOW: i64 = 1_788_685_380_000;

    fn expected_strategy() -> impl Strategy<Value = Option<EventType>> {
        prop::option::of(prop::sample::select(EventType::ALL.to_vec()))
    }

    /// Checks the outcome of one decode: an error is one line naming a field; an
    /// accepted event is valid and survives a round trip in both formats.
    fn check(
        result: Result<Event<'_>, DecodeError>,
        expected: Option<EventType>,
    ) -> Result<(), TestCaseError> {
        match result {
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.contains('\n') && !text.contains('\r'), "{:?}", text);
                prop_assert!(!e.field().is_empty());
                if e.field() == "payload" {
                    prop_assert!(text.starts_with("payload: "), "{}", text);
                } else {
                    let prefix = format!("field `{}`: ", e.field());
                    prop_assert!(text.starts_with(&prefix), "{}", text);
                }
            }
            Ok(event) => {
                if let Some(t) = expected {
                    prop_assert_eq!(event.event_type(), t);
                }
                prop_assert!(!event.event_id.trim().is_empty());
                prop_assert!(!event.lead_id.trim().is_empty());
                prop_assert!(event.occurred_at_ms >= 0);
                for format in [Format::Json, Format::Protobuf] {
                    let bytes = encode_event(&event, format);
                    let limits = DecodeLimits {
                        max_record_bytes: usize::MAX,
                        max_future_skew_ms: None,
                        max_id_bytes: leadscore::engine::MAX_ID_BYTES,
                    };
                    let again =
                        decode_event(&bytes, format, Some(event.event_type()), None, &limits);
                    // Protobuf cannot carry an explicit zero for these two.
                    let lossy = format == Format::Protobuf
                        && matches!(
                            event.body,
                            EventBody::PricingPage {
                                seconds_on_page: Some(0),
                                ..
                            } | EventBody::Webinar {
                                minutes: Some(0),
                                ..
                            }
                        );
                    if !lossy {
                        prop_assert_eq!(again.as_ref(), Ok(&event), "{}", format);
                    }
                }
            }
        }
        Ok(())
    }

    /// One edit to a record's bytes.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Insert(usize, u8),
        Delete(usize, usize),
        Truncate(usize),
        Splice(usize, &'static str),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let tokens = prop::sample::select(vec![
            "null",
            "\"",
            "\\",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "-1",
            "1e999",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\u{1F600}",
            "\"type\":\"form\"",
            "\"x\":",
            "18446744073709551616",
        ]);
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), tokens).prop_map(|(i, t)| Mutation::Splice(i, t)),
        ]
    }

    fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *m {
            Mutation::Set(i, b) if !bytes.is_empty() => {
                let n = bytes.len();
                bytes[i % n] = b
            }
            Mutation::Set(..) => {}
            Mutation::Insert(i, b) => {
                let i = at(i, bytes.len());
                bytes.insert(i, b)
            }
            Mutation::Delete(i, n) => {
                let i = at(i, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Truncate(i) => {
                let i = at(i, bytes.len());
                bytes.truncate(i)
            }
            Mutation::Splice(i, t) => {
                let i = at(i, bytes.len());
                bytes.splice(i..i, t.bytes());
            }
        }
    }

    /// Non-blank text with characters that need escaping in JSON.
    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9\"\\\\/ \n\té😀\u{0}\u{7f}-]{1,16}"
            .prop_filter("not blank", |s| !s.trim().is_empty())
    }

    fn opt_text() -> impl Strategy<Value = Option<Cow<'static, str>>> {
        prop::option::of(text().prop_map(Cow::Owned))
    }

    fn web() -> impl Strategy<Value = WebContext<'static>> {
        (opt_text(), opt_text(), opt_text()).prop_map(|(user_agent, ip, session_id)| WebContext {
            user_agent,
            ip,
            session_id,
        })
    }

    fn body() -> impl Strategy<Value = EventBody<'static>> {
        let own = |s: String| Cow::Owned(s);
        prop_oneof![
            (text(), opt_text(), web()).prop_map(move |(p, referrer, web)| EventBody::PageView {
                path: own(p),
                referrer,
                web
            }),
            (text(), opt_text(), prop::option::of(1u32..), web()).prop_map(
                move |(p, plan, seconds_on_page, web)| EventBody::PricingPage {
                    path: own(p),
                    plan,
                    seconds_on_page,
                    web
                }
            ),
            (text(), prop::sample::select(AssetKind::ALL.to_vec())).prop_map(
                move |(a, asset_kind)| {
                    EventBody::Download {
                        asset_id: own(a),
                        asset_kind,
                    }
                }
            ),
            (
                text(),
                prop::sample::select(WebinarAction::ALL.to_vec()),
                prop::option::of(1u32..)
            )
                .prop_map(move |(w, action, minutes)| EventBody::Webinar {
                    webinar_id: own(w),
                    action,
                    minutes
                }),
            prop::sample::select(FormKind::ALL.to_vec()).prop_map(|form| EventBody::Form { form }),
            (
                opt_text(),
                prop::option::of(any::<u64>()),
                prop::option::of(any::<u64>()),
                opt_text()
            )
                .prop_filter("a profile needs an attribute", |(i, e, r, c)| i.is_some()
                    || e.is_some()
                    || r.is_some()
                    || c.is_some())
                .prop_map(
                    |(industry, employees, annual_revenue_usd, country)| EventBody::Profile(
                        Profile {
                            industry,
                            employees,
                            annual_revenue_usd,
                            country
                        }
                    )
                ),
        ]
    }

    fn event() -> impl Strategy<Value = Event<'static>> {
        (text(), text(), 0i64..=253_402_300_799_999, body()).prop_map(
            |(event_id, lead_id, occurred_at_ms, body)| Event {
                event_id: Cow::Owned(event_id),
                lead_id: Cow::Owned(lead_id),
                occurred_at_ms,
                body,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), expected in expected_strategy(), now in prop::option::of(any::<i64>())) {
            for format in [Format::Json, Format::Protobuf] {
                check(decode_event(&bytes, format, expected, now, &DecodeLimits::default()), expected)?;
            }
        }

        #[test]
        fn mutated_json_records_never_panic(idx in 0..VALID_JSON.len(), edits in prop::collection::vec(mutation(), 1..6), expected in expected_strategy()) {
            let mut bytes = VALID_JSON[idx].as_bytes().to_vec();
            for m in &edits {
                apply(&mut bytes, m);
            }
            check(decode_event(&bytes, Format::Json, expected, Some(NOW), &DecodeLimits::default()), expected)?;
        }

        #[test]
        fn mutated_protobuf_records_never_panic(idx in 0..VALID_JSON.len(), edits in prop::collection::vec(mutation(), 1..6), expected in expected_strategy()) {
            let limits = DecodeLimits { max_future_skew_ms: None, ..DecodeLimits::default() };
            let event = decode_event(VALID_JSON[idx].as_bytes(), Format::Json, None, None, &limits).unwrap();
            let mut bytes = encode_event(&event, Format::Protobuf);
            for m in &edits {
                apply(&mut bytes, m);
            }
            check(decode_event(&bytes, Format::Protobuf, expected, Some(NOW), &DecodeLimits::default()), expected)?;
        }

        #[test]
        fn every_valid_event_round_trips(event in event()) {
            let limits = DecodeLimits { max_record_bytes: usize::MAX, max_id_bytes: leadscore::engine::MAX_ID_BYTES, max_future_skew_ms: None };
            for format in [Format::Json, Format::Protobuf] {
                let bytes = encode_event(&event, format);
                let back = decode_event(&bytes, format, None, None, &limits);
                prop_assert_eq!(back.as_ref(), Ok(&event), "{}", format);
            }
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let limits = DecodeLimits {
            max_record_bytes: usize::MAX,
            max_future_skew_ms: None,
            max_id_bytes: leadscore::engine::MAX_ID_BYTES,
        };
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // serde_json skips unknown fields without its recursion limit, so
        // the decoder's own depth limit (64) refuses them, and deep arrays in
        // a known field alike, without overflowing the stack.
        for (at, nested) in [
            ("x", nest(100_000)),
            ("x", nest(65)),
            ("url", nest(100_000)),
        ] {
            let json = format!(
                r#"{{"{at}":{nested},"event_id":"e","lead_id":"l","occurred_at":0,"type":"page_view","path":"/p"}}"#
            );
            let e = decode_event(json.as_bytes(), Format::Json, None, None, &limits).unwrap_err();
            assert_eq!(e.field(), "payload", "{e}");
            assert!(
                e.to_string().contains("nested more than 64 levels deep"),
                "{e}"
            );
        }
        // 63 levels inside the record's own object are 64 in all: accepted.
        let json = format!(
            r#"{{"x":{},"y":{{"z":"[[[[{{{{"}},"event_id":"e","lead_id":"l","occurred_at":0,"type":"form","form":"other"}}"#,
            nest(63)
        );
        assert_eq!(
            decode_event(json.as_bytes(), Format::Json, None, None, &limits)
                .unwrap()
                .event_id,
            "e"
        );
        // Brackets inside strings (escaped quotes too) do not count.
        let json = format!(
            r#"{{"x":"\"{}","event_id":"e","lead_id":"l","occurred_at":0,"type":"form","form":"other"}}"#,
            "[".repeat(1000)
        );
        assert!(decode_event(json.as_bytes(), Format::Json, None, None, &limits).is_ok());
        let mut proto = Vec::new();
        for _ in 0..100_000 {
            proto.extend_from_slice(&[0x52, 0x80, 0x80, 0x04]); // tag 10 (page_view), huge length
        }
        let e = decode_event(&proto, Format::Protobuf, None, None, &limits).unwrap_err();
        assert_eq!(e.field(), "payload");
        // Nested groups (wire type 3) past prost's recursion limit.
        let groups: Vec<u8> = std::iter::repeat_n(0x2b_u8, 100_000).collect(); // field 5, start group
        let e = decode_event(&groups, Format::Protobuf, None, None, &limits).unwrap_err();
        assert_eq!(e.field(), "payload");
    }
}
