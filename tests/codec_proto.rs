//! Protobuf event decoding, its agreement with JSON, and encode/decode
//! round trips of every event type in both formats.

/// Named `codec` so `cargo test codec` selects these tests.
mod codec {
    use std::borrow::Cow;

    use leadscore::codec::proto;
    use leadscore::codec::{decode_event, encode_event, DecodeError, DecodeLimits, Format};
    use leadscore::event::{
        AssetKind, Event, EventBody, EventType, FormKind, Profile, WebContext, WebinarAction,
    };
    use prost::Message;

    /// 2026-11-01T10:00:00Z.
    const T: i64 = 1_793_527_200_000;

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn msg(payload: proto::event::Payload) -> proto::Event {
        proto::Event {
            event_id: "e1".into(),
            lead_id: "l1".into(),
            occurred_at_ms: T,
            payload: Some(payload),
        }
    }

    fn decode_msg(
        m: &proto::Event,
        expected: Option<EventType>,
    ) -> Result<Event<'static>, DecodeError> {
        let bytes = m.encode_to_vec();
        decode_event(&bytes, Format::Protobuf, expected, None, &limits()).map(Event::into_owned)
    }

    fn assert_err(m: &proto::Event, field: &str, needle: &str) {
        assert_err_with(m, None, None, field, needle)
    }

    fn assert_err_with(
        m: &proto::Event,
        expected: Option<EventType>,
        now: Option<i64>,
        field: &str,
        needle: &str,
    ) {
        let bytes = m.encode_to_vec();
        let e = decode_event(&bytes, Format::Protobuf, expected, now, &limits()).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.field(), field, "{text}");
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
        assert!(!text.contains('\n'));
    }

    /// One event of every kind, with every optional field set, as a producer
    /// would send them (web events with a full URL).
    fn pairs() -> Vec<(String, proto::Event)> {
        use proto::event::Payload as P;
        let web = Some(proto::WebContext {
            user_agent: "Mozilla/5.0".into(),
            ip: "10.0.0.1".into(),
            session_id: "s-1".into(),
        });
        vec![
        (
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":"2026-11-01T11:00:00+01:00","type":"page_view","url":"https://x.com/blog/a?utm=1","referrer":"https://google.com/","user_agent":"Mozilla/5.0","ip":"10.0.0.1","session_id":"s-1"}"#.into(),
            msg(P::PageView(proto::PageView { url: "https://x.com/blog/a?utm=1".into(), path: String::new(), referrer: "https://google.com/".into(), web: web.clone() })),
        ),
        (
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":1793527200000,"type":"pricing_page","path":"/pricing","plan":"pro","seconds_on_page":45,"user_agent":"Mozilla/5.0"}"#.into(),
            msg(P::PricingPage(proto::PricingPage {
                url: String::new(),
                path: "/pricing".into(),
                plan: "pro".into(),
                seconds_on_page: 45,
                web: Some(proto::WebContext { user_agent: "Mozilla/5.0".into(), ..Default::default() }),
            })),
        ),
        (
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":"2026-11-01T10:00:00Z","type":"download","asset_id":"cs-9","asset_kind":"case_study"}"#.into(),
            msg(P::Download(proto::Download { asset_id: "cs-9".into(), asset_kind: proto::AssetKind::CaseStudy as i32 })),
        ),
        (
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":"2026-11-01T10:00:00Z","type":"webinar","webinar_id":"w-1","action":"attended","minutes":48}"#.into(),
            msg(P::Webinar(proto::Webinar { webinar_id: "w-1".into(), action: proto::WebinarAction::Attended as i32, minutes: 48 })),
        ),
        (
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":"2026-11-01T10:00:00Z","type":"form","form":"contact_us"}"#.into(),
            msg(P::Form(proto::Form { form: proto::FormKind::ContactUs as i32 })),
        ),
        (
            r#"{"event_id":"e1","lead_id":"l1","occurred_at":"2026-11-01T10:00:00Z","type":"profile","industry":"Software","employees":320,"annual_revenue_usd":25000000,"country":"DE"}"#.into(),
            msg(P::Profile(proto::Profile { industry: Some("Software".into()), employees: Some(320), annual_revenue_usd: Some(25_000_000), country: Some("DE".into()) })),
        ),
    ]
    }

    #[test]
    fn json_and_protobuf_decode_to_the_same_event() {
        let pairs = pairs();
        let mut kinds = Vec::new();
        for (json, m) in &pairs {
            let from_json =
                decode_event(json.as_bytes(), Format::Json, None, None, &limits()).unwrap();
            let from_proto = decode_msg(m, Some(from_json.event_type())).unwrap();
            assert_eq!(from_json, from_proto, "{json}");
            kinds.push(from_proto.event_type());
        }
        assert_eq!(kinds, EventType::ALL.to_vec());
        // The url was reduced to its path in both.
        let pv = decode_msg(&pairs[0].1, None).unwrap();
        assert!(matches!(pv.body, EventBody::PageView { ref path, .. } if path == "/blog/a"));
    }

    /// Every kind of event, with options set and unset, already normalised the
    /// way decoding normalises (path, not url; no empty optional strings).
    fn samples() -> Vec<Event<'static>> {
        let base = |n: u32, body| Event {
            event_id: Cow::Owned(format!("evt-{n}")),
            lead_id: "lead \"quoted\" é😀".into(),
            occurred_at_ms: T + i64::from(n),
            body,
        };
        let full_web = WebContext {
            user_agent: Some("Mozilla/5.0 (X11)".into()),
            ip: Some("2001:db8::1".into()),
            session_id: Some("s\\1".into()),
        };
        vec![
            base(
                1,
                EventBody::PageView {
                    path: "/pricing".into(),
                    referrer: None,
                    web: WebContext::default(),
                },
            ),
            base(
                2,
                EventBody::PageView {
                    path: "/careers/eng?x=1".into(),
                    referrer: Some("https://google.com/".into()),
                    web: full_web.clone(),
                },
            ),
            base(
                3,
                EventBody::PricingPage {
                    path: "/pricing".into(),
                    plan: Some("enterprise".into()),
                    seconds_on_page: Some(120),
                    web: full_web,
                },
            ),
            base(
                4,
                EventBody::PricingPage {
                    path: "/pricing".into(),
                    plan: None,
                    seconds_on_page: None,
                    web: WebContext::default(),
                },
            ),
            base(
                5,
                EventBody::Download {
                    asset_id: "wp-1".into(),
                    asset_kind: AssetKind::Whitepaper,
                },
            ),
            base(
                6,
                EventBody::Download {
                    asset_id: "ds\n2".into(),
                    asset_kind: AssetKind::Datasheet,
                },
            ),
            base(
                7,
                EventBody::Webinar {
                    webinar_id: "w".into(),
                    action: WebinarAction::Registered,
                    minutes: None,
                },
            ),
            base(
                8,
                EventBody::Webinar {
                    webinar_id: "w".into(),
                    action: WebinarAction::OnDemand,
                    minutes: Some(u32::MAX),
                },
            ),
            base(
                9,
                EventBody::Form {
                    form: FormKind::DemoRequest,
                },
            ),
            base(
                10,
                EventBody::Form {
                    form: FormKind::Newsletter,
                },
            ),
            base(
                11,
                EventBody::Profile(Profile {
                    industry: Some("Software".into()),
                    employees: Some(u64::MAX),
                    annual_revenue_usd: None,
                    country: None,
                }),
            ),
            base(
                12,
                EventBody::Profile(Profile {
                    industry: None,
                    employees: None,
                    annual_revenue_usd: Some(5),
                    country: Some("FR".into()),
                }),
            ),
        ]
    }

    #[test]
    fn encode_then_decode_round_trips_every_type_in_both_formats() {
        let samples = samples();
        for kind in EventType::ALL {
            assert!(
                samples.iter().any(|e| e.event_type() == kind),
                "no sample of {kind}"
            );
        }
        for format in [Format::Json, Format::Protobuf] {
            for event in &samples {
                let bytes = encode_event(event, format);
                let typed = decode_event(&bytes, format, Some(event.event_type()), None, &limits());
                assert_eq!(typed.as_ref(), Ok(event), "{format}");
                let untyped = decode_event(&bytes, format, None, None, &limits());
                assert_eq!(untyped.as_ref(), Ok(event), "{format}");
            }
        }
    }

    #[test]
    fn json_encoding_is_the_documented_flat_object() {
        let e = &samples()[2];
        let text = String::from_utf8(encode_event(e, Format::Json)).unwrap();
        assert!(text.starts_with(r#"{"event_id":"evt-3","lead_id":"lead \"quoted\" é😀","occurred_at":"2026-11-01T10:00:00.003Z","type":"pricing_page","path":"/pricing""#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["seconds_on_page"], 120);
        assert!(
            v.get("referrer").is_none(),
            "absent options are left out: {text}"
        );
    }

    #[test]
    fn refuses_garbage_and_empty_records() {
        for bytes in [
            &b""[..],
            b"\xff\xff\xff",
            b"{\"event_id\":\"e\"}",
            b"\x0a\x05ab",
        ] {
            let e = decode_event(bytes, Format::Protobuf, None, None, &limits()).unwrap_err();
            assert_eq!(e.field(), "payload", "{bytes:?}: {e}");
            assert!(e.to_string().starts_with("payload: "), "{e}");
        }
        let mut m = msg(proto::event::Payload::Form(proto::Form { form: 1 }));
        m.event_id = "\u{0}".into();
        let mut bytes = m.encode_to_vec();
        // Corrupt the event_id string into invalid UTF-8.
        let at = bytes.iter().position(|&b| b == 0).unwrap();
        bytes[at] = 0xff;
        assert_eq!(
            decode_event(&bytes, Format::Protobuf, None, None, &limits())
                .unwrap_err()
                .field(),
            "payload"
        );
        let small = DecodeLimits {
            max_record_bytes: 4,
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        let e = decode_event(&m.encode_to_vec(), Format::Protobuf, None, None, &small).unwrap_err();
        assert_eq!(e.field(), "payload");
        assert!(e.to_string().contains("over the limit of 4"), "{e}");
    }

    #[test]
    fn refuses_missing_ids_and_times() {
        use proto::event::Payload as P;
        let form = || {
            msg(P::Form(proto::Form {
                form: proto::FormKind::Other as i32,
            }))
        };
        assert_eq!(
            decode_msg(&form(), None).unwrap().body,
            EventBody::Form {
                form: FormKind::Other
            }
        );
        assert_err(
            &proto::Event {
                event_id: String::new(),
                ..form()
            },
            "event_id",
            "required but missing",
        );
        assert_err(
            &proto::Event {
                event_id: " ".into(),
                ..form()
            },
            "event_id",
            "must not be empty",
        );
        assert_err(
            &proto::Event {
                lead_id: String::new(),
                ..form()
            },
            "lead_id",
            "required but missing",
        );
        assert_err(
            &proto::Event {
                lead_id: "l".repeat(257),
                ..form()
            },
            "lead_id",
            "is 257 bytes long, over the limit of 256 bytes (max_id_bytes)",
        );
        assert_err(
            &proto::Event {
                event_id: "e".repeat(300),
                ..form()
            },
            "event_id",
            "is 300 bytes long, over the limit of 256 bytes",
        );
        assert_err(
            &proto::Event {
                occurred_at_ms: 0,
                ..form()
            },
            "occurred_at_ms",
            "required but missing",
        );
        assert_err(
            &proto::Event {
                occurred_at_ms: -5,
                ..form()
            },
            "occurred_at_ms",
            "-5 is before 1970",
        );
        assert_err(
            &proto::Event {
                occurred_at_ms: i64::MAX,
                ..form()
            },
            "occurred_at_ms",
            "after 9999",
        );
        assert_err_with(
            &proto::Event {
                occurred_at_ms: T + 300_001,
                ..form()
            },
            None,
            Some(T),
            "occurred_at_ms",
            "in the future",
        );
        assert!(decode_event(
            &proto::Event {
                occurred_at_ms: T + 300_000,
                ..form()
            }
            .encode_to_vec(),
            Format::Protobuf,
            None,
            Some(T),
            &limits()
        )
        .is_ok());
        assert_err(
            &proto::Event {
                payload: None,
                ..form()
            },
            "payload",
            "no event is set",
        );
    }

    #[test]
    fn payload_variant_must_match_the_topic() {
        let m = msg(proto::event::Payload::Form(proto::Form {
            form: proto::FormKind::Other as i32,
        }));
        assert!(decode_msg(&m, Some(EventType::Form)).is_ok());
        assert_err_with(
            &m,
            Some(EventType::Download),
            None,
            "payload",
            "this topic carries download events, got form",
        );
    }

    #[test]
    fn refuses_unset_or_unknown_enums_and_missing_fields() {
        use proto::event::Payload as P;
        assert_err(
            &msg(P::PageView(proto::PageView::default())),
            "url",
            "required but missing",
        );
        assert_err(
            &msg(P::PricingPage(proto::PricingPage {
                url: "nope".into(),
                ..Default::default()
            })),
            "url",
            "neither an absolute URL",
        );
        assert_err(
            &msg(P::Download(proto::Download {
                asset_id: String::new(),
                asset_kind: 1,
            })),
            "asset_id",
            "required but missing",
        );
        assert_err(
            &msg(P::Download(proto::Download {
                asset_id: "a".into(),
                asset_kind: 0,
            })),
            "asset_kind",
            "ASSET_KIND_UNSPECIFIED",
        );
        assert_err(
            &msg(P::Download(proto::Download {
                asset_id: "a".into(),
                asset_kind: 99,
            })),
            "asset_kind",
            "unknown enum value 99",
        );
        assert_err(
            &msg(P::Webinar(proto::Webinar {
                webinar_id: String::new(),
                action: 1,
                minutes: 0,
            })),
            "webinar_id",
            "required but missing",
        );
        assert_err(
            &msg(P::Webinar(proto::Webinar {
                webinar_id: "w".into(),
                action: 0,
                minutes: 0,
            })),
            "action",
            "WEBINAR_ACTION_UNSPECIFIED",
        );
        assert_err(
            &msg(P::Webinar(proto::Webinar {
                webinar_id: "w".into(),
                action: -1,
                minutes: 0,
            })),
            "action",
            "unknown enum value -1",
        );
        assert_err(
            &msg(P::Form(proto::Form { form: 0 })),
            "form",
            "FORM_KIND_UNSPECIFIED",
        );
        assert_err(
            &msg(P::Form(proto::Form { form: 7 })),
            "form",
            "unknown enum value 7",
        );
        assert_err(
            &msg(P::Profile(proto::Profile::default())),
            "profile",
            "at least one of",
        );
        assert_err(
            &msg(P::Profile(proto::Profile {
                industry: Some(String::new()),
                ..Default::default()
            })),
            "profile",
            "at least one of",
        );
    }

    #[test]
    fn proto3_zero_values_read_as_absent() {
        use proto::event::Payload as P;
        let e = decode_msg(
            &msg(P::PricingPage(proto::PricingPage {
                path: "/p".into(),
                ..Default::default()
            })),
            None,
        )
        .unwrap();
        assert_eq!(
            e.body,
            EventBody::PricingPage {
                path: "/p".into(),
                plan: None,
                seconds_on_page: None,
                web: WebContext::default()
            }
        );
        let e = decode_msg(
            &msg(P::Profile(proto::Profile {
                employees: Some(0),
                ..Default::default()
            })),
            None,
        )
        .unwrap();
        assert_eq!(
            e.body,
            EventBody::Profile(Profile {
                employees: Some(0),
                ..Profile::default()
            }),
            "explicit optional zero is kept"
        );
    }
}
