//! JSON event decoding: what is accepted, and that every refusal names the
//! field a data engineer has to fix.

/// Named `codec` so `cargo test codec` selects these tests.
mod codec {
    use std::borrow::Cow;

    use leadscore::codec::{decode_event, DecodeError, DecodeLimits, Format};
    use leadscore::event::{
        AssetKind, Event, EventBody, EventType, FormKind, Profile, WebContext, WebinarAction,
    };

    /// 2026-11-01T10:00:00Z.
    const T: i64 = 1_793_527_200_000;

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn ok(json: &str) -> Event<'_> {
        decode_event(json.as_bytes(), Format::Json, None, None, &limits())
            .unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn err_with(json: &str, expected: Option<EventType>, now: Option<i64>) -> DecodeError {
        match decode_event(json.as_bytes(), Format::Json, expected, now, &limits()) {
            Ok(e) => panic!("{json} decoded to {e:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error names `field` (in `field()` and in the message) and the
    /// message contains `needle`.
    fn assert_err(json: &str, field: &str, needle: &str) {
        assert_err_with(json, None, None, field, needle);
    }

    fn assert_err_with(
        json: &str,
        expected: Option<EventType>,
        now: Option<i64>,
        field: &str,
        needle: &str,
    ) {
        let e = err_with(json, expected, now);
        let msg = e.to_string();
        assert_eq!(e.field(), field, "{json} -> {msg}");
        if field == "payload" {
            assert!(msg.starts_with("payload: "), "{msg}");
        } else {
            assert!(msg.starts_with(&format!("field `{field}`: ")), "{msg}");
        }
        assert!(msg.contains(needle), "{json} -> {msg:?} lacks {needle:?}");
        assert!(!msg.contains('\n'), "{msg:?}");
    }

    fn web(ua: Option<&'static str>) -> WebContext<'static> {
        WebContext {
            user_agent: ua.map(Cow::Borrowed),
            ip: None,
            session_id: None,
        }
    }

    #[test]
    fn decodes_every_event_type() {
        let pv = ok(
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":"2026-11-01T10:00:00Z","type":"page_view","path":"/product","referrer":"https://google.com/","user_agent":"Mozilla/5.0","ip":"10.0.0.1","session_id":"s1"}"#,
        );
        assert_eq!(
            pv,
            Event {
                event_id: "e1".into(),
                lead_id: "l1".into(),
                occurred_at_ms: T,
                body: EventBody::PageView {
                    path: "/product".into(),
                    referrer: Some("https://google.com/".into()),
                    web: WebContext {
                        user_agent: Some("Mozilla/5.0".into()),
                        ip: Some("10.0.0.1".into()),
                        session_id: Some("s1".into())
                    },
                },
            }
        );
        let pp = ok(
            r#"{"event_id":"e2","lead_id":"l1","occurred_at":1793527200000,"type":"pricing_page","url":"https://x.com/pricing?a=1","plan":"pro","seconds_on_page":45}"#,
        );
        assert_eq!(
            pp.body,
            EventBody::PricingPage {
                path: "/pricing".into(),
                plan: Some("pro".into()),
                seconds_on_page: Some(45),
                web: web(None)
            }
        );
        assert_eq!(pp.occurred_at_ms, T);
        let dl = ok(
            r#"{"event_id":"e3","lead_id":"l1","occurred_at":1793527200000,"type":"download","asset_id":"cs-1","asset_kind":"case_study"}"#,
        );
        assert_eq!(
            dl.body,
            EventBody::Download {
                asset_id: "cs-1".into(),
                asset_kind: AssetKind::CaseStudy
            }
        );
        let wb = ok(
            r#"{"event_id":"e4","lead_id":"l1","occurred_at":1793527200000,"type":"webinar","webinar_id":"w1","action":"on_demand","minutes":48}"#,
        );
        assert_eq!(
            wb.body,
            EventBody::Webinar {
                webinar_id: "w1".into(),
                action: WebinarAction::OnDemand,
                minutes: Some(48)
            }
        );
        let wb2 = ok(
            r#"{"event_id":"e4","lead_id":"l1","occurred_at":1793527200000,"type":"webinar","webinar_id":"w1","action":"registered"}"#,
        );
        assert_eq!(
            wb2.body,
            EventBody::Webinar {
                webinar_id: "w1".into(),
                action: WebinarAction::Registered,
                minutes: None
            }
        );
        let fm = ok(
            r#"{"event_id":"e5","lead_id":"l1","occurred_at":1793527200000,"type":"form","form":"demo_request"}"#,
        );
        assert_eq!(
            fm.body,
            EventBody::Form {
                form: FormKind::DemoRequest
            }
        );
        let pr = ok(
            r#"{"event_id":"e6","lead_id":"l1","occurred_at":1793527200000,"type":"profile","industry":"Software","employees":320,"annual_revenue_usd":25000000,"country":"DE"}"#,
        );
        assert_eq!(
            pr.body,
            EventBody::Profile(Profile {
                industry: Some("Software".into()),
                employees: Some(320),
                annual_revenue_usd: Some(25_000_000),
                country: Some("DE".into())
            })
        );
        let pr1 = ok(
            r#"{"event_id":"e7","lead_id":"l1","occurred_at":1793527200000,"type":"profile","employees":0}"#,
        );
        assert_eq!(
            pr1.body,
            EventBody::Profile(Profile {
                employees: Some(0),
                ..Profile::default()
            })
        );
    }

    #[test]
    fn accepts_rfc3339_with_any_offset_and_epoch_millis() {
        for ts in [
            r#""2026-11-01T10:00:00Z""#,
            r#""2026-11-01T10:00:00.000Z""#,
            r#""2026-11-01T11:00:00+01:00""#,
            r#""2026-11-01T04:30:00-05:30""#,
            r#""2026-11-01 10:00:00z""#,
            "1793527200000",
        ] {
            let json = format!(
                r#"{{"event_id":"e","lead_id":"l","occurred_at":{ts},"type":"form","form":"other"}}"#
            );
            assert_eq!(ok(&json).occurred_at_ms, T, "{ts}");
        }
        let json = r#"{"event_id":"e","lead_id":"l","occurred_at":"2026-11-01T10:00:00.1234+00:00","type":"form","form":"other"}"#;
        assert_eq!(ok(json).occurred_at_ms, T + 123);
        let json = r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#;
        assert_eq!(ok(json).occurred_at_ms, 0);
    }

    #[test]
    fn takes_the_path_of_a_url() {
        let cases = [
            ("https://x.com/pricing?a=1", "/pricing"),
            (
                "https://example.com/blog/mql-vs-sql?utm_source=newsletter#top",
                "/blog/mql-vs-sql",
            ),
            ("https://example.com", "/"),
            ("//example.com/careers/eng", "/careers/eng"),
            ("/docs?x=1", "/docs"),
        ];
        for (url, path) in cases {
            let json = format!(
                r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"page_view","url":"{url}"}}"#
            );
            match ok(&json).body {
                EventBody::PageView { path: p, .. } => assert_eq!(p, path, "{url}"),
                other => panic!("{other:?}"),
            }
        }
        // `path` is kept exactly as sent and wins over `url`.
        let json = r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"page_view","url":"https://x.com/a","path":"/b?keep=1"}"#;
        assert!(matches!(ok(json).body, EventBody::PageView { path, .. } if path == "/b?keep=1"));
    }

    #[test]
    fn unknown_fields_and_fields_of_other_types_are_ignored() {
        let json = r#"{"utm":{"a":[1,{"b":null}],"c":"d"},"event_id":"e","x":[[[]]],"lead_id":"l","occurred_at":0,"type":"form","form":"newsletter","version":3.5,"flag":true,"employees":"many","url":17}"#;
        let e = ok(json);
        assert_eq!(
            e.body,
            EventBody::Form {
                form: FormKind::Newsletter
            }
        );
        assert_eq!(e.event_id, "e");
    }

    #[test]
    fn null_counts_as_absent() {
        let json = r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"page_view","path":"/a","referrer":null,"user_agent":null,"url":null}"#;
        assert_eq!(
            ok(json).body,
            EventBody::PageView {
                path: "/a".into(),
                referrer: None,
                web: web(None)
            }
        );
        assert_err(
            r#"{"event_id":null,"lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#,
            "event_id",
            "required but missing",
        );
        assert_err(
            r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"profile","industry":null}"#,
            "profile",
            "at least one of",
        );
    }

    #[test]
    fn escaped_strings_decode_and_plain_ones_borrow() {
        let json = r#"{"event_id":"e\"1\\","lead_id":"l\u00e9\ud83d\ude00","occurred_at":0,"type":"page_view","path":"/a\/b","user_agent":"Bot\tX\n"}"#;
        let e = ok(json);
        assert_eq!(e.event_id, "e\"1\\");
        assert_eq!(e.lead_id, "lé😀");
        assert_eq!(e.web().unwrap().user_agent.as_deref(), Some("Bot\tX\n"));
        assert!(matches!(e.body, EventBody::PageView { ref path, .. } if path == "/a/b"));
        let plain = ok(
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":0,"type":"page_view","url":"https://x.com/p?q=1"}"#,
        );
        assert!(matches!(plain.event_id, Cow::Borrowed(_)));
        assert!(matches!(plain.lead_id, Cow::Borrowed(_)));
        assert!(matches!(
            plain.body,
            EventBody::PageView {
                path: Cow::Borrowed("/p"),
                ..
            }
        ));
        // Escaped keys are still recognised.
        let e = ok(
            r#"{"event\u005fid":"e","lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#,
        );
        assert_eq!(e.event_id, "e");
    }

    #[test]
    fn type_is_optional_on_a_typed_topic_but_must_match() {
        let untyped =
            r#"{"event_id":"e","lead_id":"l","occurred_at":0,"asset_id":"a","asset_kind":"ebook"}"#;
        let e = decode_event(
            untyped.as_bytes(),
            Format::Json,
            Some(EventType::Download),
            None,
            &limits(),
        )
        .unwrap();
        assert_eq!(e.event_type(), EventType::Download);
        let typed = r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"download","asset_id":"a","asset_kind":"ebook"}"#;
        assert!(decode_event(
            typed.as_bytes(),
            Format::Json,
            Some(EventType::Download),
            None,
            &limits()
        )
        .is_ok());
        assert_err_with(
            typed,
            Some(EventType::PageView),
            None,
            "type",
            "this topic carries page_view events, got \"download\"",
        );
        assert_err(untyped, "type", "required but missing");
        assert_err(
            r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"click"}"#,
            "type",
            "\"click\" is not one of page_view, pricing_page",
        );
        assert_err(
            r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":3}"#,
            "type",
            "expected a string, got number 3",
        );
    }

    #[test]
    fn refuses_what_is_not_a_json_object() {
        assert_err("", "payload", "record is empty");
        assert_err("{", "payload", "not valid JSON");
        assert_err("not json", "payload", "not valid JSON");
        assert_err(r#"{"event_id":"e",}"#, "payload", "not valid JSON");
        assert_err(r#"{"event_id":"e"} {}"#, "payload", "not valid JSON");
        assert_err("[1,2]", "payload", "expected a JSON object, got an array");
        assert_err(
            r#""event""#,
            "payload",
            "expected a JSON object, got a string",
        );
        assert_err("null", "payload", "expected a JSON object, got null");
        assert_err("42", "payload", "expected a JSON object, got a number");
        let bad_utf8 = b"{\"event_id\":\"e\xff\",\"lead_id\":\"l\",\"occurred_at\":0,\"type\":\"form\",\"form\":\"other\"}";
        let e = decode_event(bad_utf8, Format::Json, None, None, &limits()).unwrap_err();
        assert_eq!(e.field(), "payload", "{e}");
        assert!(
            e.to_string().contains("not valid UTF-8 (at byte 14)"),
            "{e}"
        );
        // Invalid JSON inside a known field's value names the field,
        // elsewhere the path is quoted.
        assert_err(r#"{"event_id":tru}"#, "event_id", "not valid JSON");
        assert_err(
            r#"{"event_id":"e","utm":{"a":[1,tru]}}"#,
            "payload",
            "not valid JSON at `utm`",
        );
    }

    #[test]
    fn refuses_records_over_the_size_limit_before_parsing() {
        let small = DecodeLimits {
            max_record_bytes: 40,
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        // Not even JSON: the size check comes first.
        let e = decode_event(&[b'x'; 41], Format::Json, None, None, &small).unwrap_err();
        assert_eq!(e.field(), "payload");
        assert!(
            e.to_string().contains("41 bytes, over the limit of 40"),
            "{e}"
        );
        let json =
            br#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#;
        let fits = DecodeLimits {
            max_record_bytes: json.len(),
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        assert!(decode_event(json, Format::Json, None, None, &fits).is_ok());
        let short = DecodeLimits {
            max_record_bytes: json.len() - 1,
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        assert_eq!(
            decode_event(json, Format::Json, None, None, &short)
                .unwrap_err()
                .field(),
            "payload"
        );
    }

    #[test]
    fn refuses_missing_or_empty_ids() {
        assert_err(
            r#"{"lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#,
            "event_id",
            "required but missing",
        );
        assert_err(
            r#"{"event_id":"","lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#,
            "event_id",
            "must not be empty",
        );
        assert_err(
            r#"{"event_id":"  ","lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#,
            "event_id",
            "must not be empty",
        );
        assert_err(
            r#"{"event_id":7,"lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#,
            "event_id",
            "expected a string, got number 7",
        );
        assert_err(
            r#"{"event_id":"e","occurred_at":0,"type":"form","form":"other"}"#,
            "lead_id",
            "required but missing",
        );
        assert_err(
            r#"{"event_id":"e","lead_id":"","occurred_at":0,"type":"form","form":"other"}"#,
            "lead_id",
            "must not be empty",
        );
        assert_err(
            r#"{"event_id":"e","lead_id":["l"],"occurred_at":0,"type":"form","form":"other"}"#,
            "lead_id",
            "expected a string, got array",
        );
    }

    #[test]
    fn refuses_bad_timestamps() {
        let with = |ts: &str| {
            format!(
                r#"{{"event_id":"e","lead_id":"l","occurred_at":{ts},"type":"form","form":"other"}}"#
            )
        };
        assert_err(
            r#"{"event_id":"e","lead_id":"l","type":"form","form":"other"}"#,
            "occurred_at",
            "required but missing",
        );
        let e = err_with(&with(r#""yesterday""#), None, None);
        assert_eq!(
            e.to_string(),
            "field `occurred_at`: \"yesterday\" is neither RFC 3339 nor epoch milliseconds"
        );
        assert_err(
            &with(r#""2026-13-01T10:00:00Z""#),
            "occurred_at",
            "\"2026-13-01T10:00:00Z\" is not a valid RFC 3339 date-time (input is out of range)",
        );
        assert_err(
            &with(r#""2026-02-30T10:00:00Z""#),
            "occurred_at",
            "not a valid RFC 3339 date-time",
        );
        assert_err(
            &with(r#""2026-11-01T10:00:00""#),
            "occurred_at",
            "neither RFC 3339",
        );
        assert_err(
            &with(r#""1969-12-31T23:59:59Z""#),
            "occurred_at",
            "before 1970",
        );
        assert_err(&with("-1"), "occurred_at", "-1 is before 1970");
        assert_err(
            &with("1.5e12"),
            "occurred_at",
            "expected an RFC 3339 string or integer epoch milliseconds, got number",
        );
        assert_err(&with("true"), "occurred_at", "got boolean");
        assert_err(&with("{}"), "occurred_at", "got object");
        assert_err(&with("18446744073709551615"), "occurred_at", "after 9999");
        assert_err(&with(r#""line\nbreak""#), "occurred_at", "\"line\\nbreak\"");
    }

    #[test]
    fn refuses_timestamps_too_far_in_the_future() {
        let json = format!(
            r#"{{"event_id":"e","lead_id":"l","occurred_at":{},"type":"form","form":"other"}}"#,
            T + 300_001
        );
        assert_err_with(
            &json,
            None,
            Some(T),
            "occurred_at",
            "300001 ms in the future",
        );
        // Exactly at the limit, without a clock, or with the check off: accepted.
        let at_limit = format!(
            r#"{{"event_id":"e","lead_id":"l","occurred_at":{},"type":"form","form":"other"}}"#,
            T + 300_000
        );
        assert!(decode_event(at_limit.as_bytes(), Format::Json, None, Some(T), &limits()).is_ok());
        assert!(decode_event(json.as_bytes(), Format::Json, None, None, &limits()).is_ok());
        let off = DecodeLimits {
            max_future_skew_ms: None,
            ..limits()
        };
        assert!(decode_event(json.as_bytes(), Format::Json, None, Some(T), &off).is_ok());
    }

    #[test]
    fn refuses_bad_web_fields() {
        let pv = |rest: &str| {
            format!(r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"page_view"{rest}}}"#)
        };
        assert_err(
            &pv(""),
            "url",
            "required but missing (send `url` or `path`)",
        );
        assert_err(&pv(r#","url":"""#), "url", "must not be empty");
        assert_err(&pv(r#","path":"""#), "path", "must not be empty");
        assert_err(
            &pv(r#","url":"example.com/pricing""#),
            "url",
            "neither an absolute URL",
        );
        assert_err(&pv(r#","url":5"#), "url", "expected a string, got number 5");
        assert_err(
            &pv(r#","path":false"#),
            "path",
            "expected a string, got boolean",
        );
        assert_err(
            &pv(r#","path":"/a","referrer":1"#),
            "referrer",
            "expected a string",
        );
        assert_err(
            &pv(r#","path":"/a","user_agent":{}"#),
            "user_agent",
            "expected a string, got object",
        );
        assert_err(
            &pv(r#","path":"/a","ip":[]"#),
            "ip",
            "expected a string, got array",
        );
        assert_err(
            &pv(r#","path":"/a","session_id":2.5"#),
            "session_id",
            "expected a string, got number 2.5",
        );
        let pp = |rest: &str| {
            format!(
                r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"pricing_page","path":"/pricing"{rest}}}"#
            )
        };
        assert_err(&pp(r#","plan":true"#), "plan", "expected a string");
        assert_err(
            &pp(r#","seconds_on_page":-4"#),
            "seconds_on_page",
            "expected a non-negative integer, got number -4",
        );
        assert_err(
            &pp(r#","seconds_on_page":"45""#),
            "seconds_on_page",
            "expected a non-negative integer, got string",
        );
        assert_err(
            &pp(r#","seconds_on_page":4.5"#),
            "seconds_on_page",
            "got number 4.5",
        );
        assert_err(
            &pp(r#","seconds_on_page":4294967296"#),
            "seconds_on_page",
            "out of range",
        );
        assert_err(
            r#"{"event_id":"e","lead_id":"l","occurred_at":0,"type":"pricing_page"}"#,
            "url",
            "required but missing",
        );
    }

    #[test]
    fn refuses_bad_download_webinar_and_form_fields() {
        let dl = |rest: &str| {
            format!(r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"download"{rest}}}"#)
        };
        assert_err(
            &dl(r#","asset_kind":"ebook""#),
            "asset_id",
            "required but missing",
        );
        assert_err(
            &dl(r#","asset_id":"","asset_kind":"ebook""#),
            "asset_id",
            "must not be empty",
        );
        assert_err(
            &dl(r#","asset_id":"a""#),
            "asset_kind",
            "required but missing",
        );
        assert_err(
            &dl(r#","asset_id":"a","asset_kind":"pdf""#),
            "asset_kind",
            "\"pdf\" is not one of whitepaper, case_study, ebook, datasheet, other",
        );
        assert_err(
            &dl(r#","asset_id":"a","asset_kind":2"#),
            "asset_kind",
            "expected a string",
        );
        let wb = |rest: &str| {
            format!(r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"webinar"{rest}}}"#)
        };
        assert_err(
            &wb(r#","action":"attended""#),
            "webinar_id",
            "required but missing",
        );
        assert_err(
            &wb(r#","webinar_id":"w""#),
            "action",
            "required but missing",
        );
        assert_err(
            &wb(r#","webinar_id":"w","action":"watched""#),
            "action",
            "is not one of registered, attended, on_demand",
        );
        assert_err(
            &wb(r#","webinar_id":"w","action":"attended","minutes":"10""#),
            "minutes",
            "expected a non-negative integer, got string",
        );
        let fm = |rest: &str| {
            format!(r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"form"{rest}}}"#)
        };
        assert_err(&fm(""), "form", "required but missing");
        assert_err(
            &fm(r#","form":"Contact_Us""#),
            "form",
            "is not one of contact_us, demo_request, newsletter, other",
        );
    }

    #[test]
    fn refuses_bad_profile_fields() {
        let pr = |rest: &str| {
            format!(r#"{{"event_id":"e","lead_id":"l","occurred_at":0,"type":"profile"{rest}}}"#)
        };
        assert_err(
            &pr(""),
            "profile",
            "needs at least one of industry, employees, annual_revenue_usd, country",
        );
        assert_err(
            &pr(r#","industry":"","country":"""#),
            "profile",
            "at least one of",
        );
        let e = err_with(&pr(r#","employees":"many""#), None, None);
        assert_eq!(
            e.to_string(),
            "field `employees`: expected a non-negative integer, got string"
        );
        assert_err(
            &pr(r#","annual_revenue_usd":-1"#),
            "annual_revenue_usd",
            "got number -1",
        );
        assert_err(
            &pr(r#","annual_revenue_usd":1e30"#),
            "annual_revenue_usd",
            "expected a non-negative integer",
        );
        assert_err(&pr(r#","industry":42"#), "industry", "expected a string");
        assert_err(
            &pr(r#","country":true"#),
            "country",
            "expected a string, got boolean",
        );
    }

    #[test]
    fn more_than_32_distinct_keys_decode_and_repeats_of_any_known_key_are_refused() {
        // 22 known fields and 40 unknown ones: 62 distinct keys.
        let mut fields: Vec<String> = (0..40).map(|i| format!(r#""extra_{i}":{i}"#)).collect();
        fields.extend(
            [
                r#""event_id":"e""#,
                r#""lead_id":"l""#,
                r#""occurred_at":0"#,
                r#""type":"page_view""#,
                r#""url":"https://x.com/a""#,
                r#""path":"/a""#,
                r#""referrer":"r""#,
                r#""user_agent":"ua""#,
                r#""ip":"1.2.3.4""#,
                r#""session_id":"s""#,
                r#""plan":"p""#,
                r#""seconds_on_page":1"#,
                r#""asset_id":"a""#,
                r#""asset_kind":"other""#,
                r#""webinar_id":"w""#,
                r#""action":"attended""#,
                r#""minutes":2"#,
                r#""form":"other""#,
                r#""industry":"i""#,
                r#""employees":3"#,
                r#""annual_revenue_usd":4"#,
                r#""country":"c""#,
            ]
            .map(String::from),
        );
        let json = format!("{{{}}}", fields.join(","));
        let e = ok(&json);
        assert_eq!(e.event_type(), EventType::PageView);
        assert_eq!(e.lead_id, "l");
        // The last known keys repeat too (a 32-bit set of seen keys would
        // have lost track of them).
        for (name, value) in [
            ("country", r#""d""#),
            ("annual_revenue_usd", "5"),
            ("form", r#""other""#),
        ] {
            let repeated = format!("{{{},\"{name}\":{value}}}", fields.join(","));
            assert_err(&repeated, name, "appears more than once");
        }
    }

    #[test]
    fn refuses_ids_longer_than_max_id_bytes() {
        let with = |event_id: &str, lead_id: &str| {
            format!(
                r#"{{"event_id":"{event_id}","lead_id":"{lead_id}","occurred_at":0,"type":"form","form":"other"}}"#
            )
        };
        // The default limit is 256 bytes, counted in bytes, not characters.
        let at = "x".repeat(256);
        let over = "x".repeat(257);
        assert_eq!(ok(&with("e", &at)).lead_id.len(), 256);
        assert_eq!(ok(&with(&at, "l")).event_id.len(), 256);
        assert_err(
            &with("e", &over),
            "lead_id",
            "is 257 bytes long, over the limit of 256 bytes (max_id_bytes)",
        );
        assert_err(
            &with(&over, "l"),
            "event_id",
            "is 257 bytes long, over the limit of 256 bytes (max_id_bytes)",
        );
        let wide = "é".repeat(129); // 258 bytes, 129 characters
        assert_err(&with("e", &wide), "lead_id", "is 258 bytes long");

        // The configured limit, and the engine's 1024 as a ceiling whatever it says.
        let small = DecodeLimits {
            max_id_bytes: 8,
            ..limits()
        };
        let e = decode_event(
            with("e", "123456789").as_bytes(),
            Format::Json,
            None,
            None,
            &small,
        )
        .unwrap_err();
        assert_eq!(e.field(), "lead_id");
        assert!(e.to_string().contains("over the limit of 8 bytes"), "{e}");
        let huge = DecodeLimits {
            max_id_bytes: usize::MAX,
            ..limits()
        };
        let json = with("e", &"x".repeat(1024));
        assert!(decode_event(json.as_bytes(), Format::Json, None, None, &huge).is_ok());
        let json = with("e", &"x".repeat(1025));
        let e = decode_event(json.as_bytes(), Format::Json, None, None, &huge).unwrap_err();
        assert!(
            e.to_string().contains("over the limit of 1024 bytes"),
            "{e}"
        );
    }

    #[test]
    fn refuses_repeated_fields() {
        assert_err(
            r#"{"event_id":"e","lead_id":"l","lead_id":"m","occurred_at":0,"type":"form","form":"other"}"#,
            "lead_id",
            "appears more than once",
        );
        // Repeated unknown fields are ignored like every unknown field.
        let json = r#"{"event_id":"e","x":1,"x":2,"lead_id":"l","occurred_at":0,"type":"form","form":"other"}"#;
        assert_eq!(ok(json).lead_id, "l");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "z".repeat(5000);
        let json = format!(
            r#"{{"event_id":"e","lead_id":"l","occurred_at":"{long}","type":"form","form":"other"}}"#
        );
        let e = err_with(&json, None, None);
        assert_eq!(e.field(), "occurred_at");
        assert!(e.to_string().len() < 200, "{e}");
    }
}
