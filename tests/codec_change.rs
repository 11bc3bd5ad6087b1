//! Stage-change encoding: the documented JSON object, exactly, and the
//! protobuf message with the same content.

/// Named `codec` so `cargo test codec` selects these tests.
mod codec {
    use std::sync::Arc;

    use leadscore::codec::proto;
    use leadscore::codec::{encode_change, Format};
    use leadscore::engine::{Contribution, Explanation, Reason, Score, Stage, StageChange};
    use prost::Message;

    fn change(trigger: Option<&str>) -> StageChange {
        StageChange {
            change_id: "3f5e0000000000000000000000000001".into(),
            lead_id: "lead-ben-91aa".into(),
            from: Stage::Mql,
            to: Stage::Sql,
            reason: Reason::InstantRule("contact_us".into()),
            occurred_at_ms: 1_788_685_380_000,
            score: Score {
                total: 96.404999,
                behavior: 51.4049,
                fit: 45.0,
            },
            model_version: Arc::from("default-1a2b3c4d"),
            explanation: Explanation {
                top_rules: vec![
                    Contribution {
                        rule: "pricing_page".into(),
                        count: 3,
                        points: 23.1,
                    },
                    Contribution {
                        rule: "careers \"page\"".into(),
                        count: 1,
                        points: -10.0,
                    },
                ],
                thresholds: vec![
                    "total 96.40 >= sql_at 80".into(),
                    "fit 45.00 >= sql_min_fit 20".into(),
                ],
                sql_signals: vec!["pricing_interest".into()],
                summary: "reached SQL with score 96.4".into(),
            },
            trigger_event_id: trigger.map(str::to_owned),
        }
    }

    #[test]
    fn json_is_exactly_the_documented_object() {
        let bytes = encode_change(&change(Some("evt-0014")), 1_788_685_380_004, Format::Json);
        let text = String::from_utf8(bytes).unwrap();
        let want = concat!(
            r#"{"change_id":"3f5e0000000000000000000000000001","lead_id":"lead-ben-91aa","from":"mql","to":"sql","#,
            r#""reason":"instant_rule:contact_us","occurred_at":"2026-09-06T09:03:00.000Z","emitted_at":"2026-09-06T09:03:00.004Z","#,
            r#""score":{"total":96.4,"behavior":51.4,"fit":45.0},"model_version":"default-1a2b3c4d","#,
            r#""explanation":{"top_rules":[{"rule":"pricing_page","count":3,"points":23.1},{"rule":"careers \"page\"","count":1,"points":-10.0}],"#,
            r#""thresholds":["total 96.40 >= sql_at 80","fit 45.00 >= sql_min_fit 20"],"sql_signals":["pricing_interest"],"#,
            r#""summary":"reached SQL with score 96.4"},"trigger_event_id":"evt-0014"}"#
        );
        assert_eq!(text, want);
    }

    #[test]
    fn json_has_exactly_the_documented_keys_and_parses_back() {
        let bytes = encode_change(&change(Some("evt-0014")), 5, Format::Json);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "change_id",
            "lead_id",
            "from",
            "to",
            "reason",
            "occurred_at",
            "emitted_at",
            "score",
            "model_version",
            "explanation",
            "trigger_event_id",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
        let mut score_keys: Vec<&str> = v["score"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        score_keys.sort_unstable();
        assert_eq!(score_keys, ["behavior", "fit", "total"]);
        let mut ex_keys: Vec<&str> = v["explanation"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        ex_keys.sort_unstable();
        assert_eq!(
            ex_keys,
            ["sql_signals", "summary", "thresholds", "top_rules"]
        );
        assert_eq!(v["emitted_at"], "1970-01-01T00:00:00.005Z");
        assert_eq!(v["explanation"]["top_rules"][1]["rule"], "careers \"page\"");
        assert_eq!(v["explanation"]["top_rules"][1]["points"], -10.0);
        // Keys appear in the documented order in the bytes.
        let text = String::from_utf8(bytes).unwrap();
        let order = [
            "\"change_id\"",
            "\"lead_id\"",
            "\"from\"",
            "\"to\"",
            "\"reason\"",
            "\"occurred_at\"",
            "\"emitted_at\"",
            "\"score\"",
            "\"model_version\"",
            "\"explanation\"",
            "\"trigger_event_id\"",
        ];
        let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn sweep_changes_have_no_trigger_event_id() {
        let mut c = change(None);
        c.reason = Reason::RecycledDecay;
        let bytes = encode_change(&c, 0, Format::Json);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v.get("trigger_event_id").is_none());
        assert_eq!(v["reason"], "recycled_decay");
        assert_eq!(v.as_object().unwrap().len(), 10);
    }

    #[test]
    fn encoding_is_deterministic() {
        for format in [Format::Json, Format::Protobuf] {
            let a = encode_change(&change(Some("e")), 42, format);
            let b = encode_change(&change(Some("e")), 42, format);
            assert_eq!(a, b);
            assert_ne!(a, encode_change(&change(Some("e")), 43, format));
        }
    }

    #[test]
    fn protobuf_carries_the_same_content() {
        let bytes = encode_change(
            &change(Some("evt-0014")),
            1_788_685_380_004,
            Format::Protobuf,
        );
        let m = proto::StageChange::decode(bytes.as_slice()).unwrap();
        assert_eq!(m.change_id, "3f5e0000000000000000000000000001");
        assert_eq!(m.lead_id, "lead-ben-91aa");
        assert_eq!((m.from.as_str(), m.to.as_str()), ("mql", "sql"));
        assert_eq!(m.reason, "instant_rule:contact_us");
        assert_eq!(m.occurred_at_ms, 1_788_685_380_000);
        assert_eq!(m.emitted_at_ms, 1_788_685_380_004);
        assert_eq!(
            m.score,
            Some(proto::Score {
                total: 96.4,
                behavior: 51.4,
                fit: 45.0
            })
        );
        assert_eq!(m.model_version, "default-1a2b3c4d");
        let ex = m.explanation.unwrap();
        assert_eq!(ex.top_rules.len(), 2);
        assert_eq!(
            ex.top_rules[0],
            proto::Contribution {
                rule: "pricing_page".into(),
                count: 3,
                points: 23.1
            }
        );
        assert_eq!(ex.thresholds.len(), 2);
        assert_eq!(ex.sql_signals, ["pricing_interest"]);
        assert_eq!(m.trigger_event_id.as_deref(), Some("evt-0014"));
        let sweep = proto::StageChange::decode(
            encode_change(&change(None), 0, Format::Protobuf).as_slice(),
        )
        .unwrap();
        assert_eq!(sweep.trigger_event_id, None);
    }
}
