//! Turns a parsed [`ModelFile`] into a checked [`Model`], naming the key and
//! line of the first problem.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use thiserror::Error;
use toml::Spanned;

use super::file::{FitFile, ModelFile, RuleFile};
use super::rule::{FitAttribute, FitKind, FitRule, Matcher, Repeat, RepeatKey, Rule, Signal};
use super::{Category, Eviction, Filters, Model, Stages, DAY_MS};
use crate::engine::Stage;
use crate::engine::{MAX_FIT_OUTCOMES, MAX_FIT_RULES, MAX_RULES};
use crate::event::{AssetKind, EventType, FormKind, WebinarAction};

/// Why a model file was refused.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: line {line}: `{key}`: {message}")]
    Invalid {
        origin: String,
        line: usize,
        key: String,
        message: String,
    },
}

struct Ctx<'a> {
    src: &'a str,
    origin: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ModelError {
        let line = self.src[..span.start.min(self.src.len())]
            .matches('\n')
            .count()
            + 1;
        ModelError::Invalid {
            origin: self.origin.to_string(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }
}

pub(super) fn compile(src: &str, origin: &str) -> Result<Model, ModelError> {
    let file: ModelFile = toml::from_str(src).map_err(|e| ModelError::Parse {
        origin: origin.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let cx = Ctx { src, origin };

    let name = file.name.get_ref().trim().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(cx.err(
            file.name.span(),
            "name",
            "must be non-empty ASCII letters, digits, '-', '_' or '.'",
        ));
    }

    let mut categories = Vec::new();
    let mut cat_ids = HashMap::new();
    for (i, c) in file.categories.iter().enumerate() {
        let key = format!("categories[{i}]");
        if cat_ids.insert(c.name.get_ref().clone(), i).is_some() {
            return Err(cx.err(
                c.name.span(),
                format!("{key}.name"),
                format!("duplicate category \"{}\"", c.name.get_ref()),
            ));
        }
        let half_life_ms = match &c.half_life_days {
            Some(h) if !(*h.get_ref() > 0.0 && h.get_ref().is_finite()) => {
                return Err(cx.err(
                    h.span(),
                    format!("{key}.half_life_days"),
                    "must be a positive number of days",
                ));
            }
            Some(h) => Some(*h.get_ref() * DAY_MS as f64),
            None => None,
        };
        categories.push(Category {
            name: c.name.get_ref().clone(),
            half_life_ms,
        });
    }

    let mut rules = Vec::new();
    let mut rule_ids: HashMap<String, u16> = HashMap::new();
    for (i, r) in file.rules.iter().enumerate() {
        let rule = compile_rule(&cx, i, r, &cat_ids)?;
        if rule_ids.insert(rule.name.clone(), i as u16).is_some() {
            return Err(cx.err(
                r.name.span(),
                format!("rules[{i}].name"),
                format!("duplicate rule \"{}\"", rule.name),
            ));
        }
        rules.push(rule);
    }
    if rules.len() > MAX_RULES {
        return Err(cx.err(0..0, "rules", format!("at most {MAX_RULES} rules")));
    }

    let mut signals = Vec::new();
    for (i, s) in file.signals.iter().enumerate() {
        let key = format!("signals[{i}]");
        let Some(&rule) = rule_ids.get(s.rule.get_ref()) else {
            return Err(cx.err(
                s.rule.span(),
                format!("{key}.rule"),
                format!("no rule named \"{}\"", s.rule.get_ref()),
            ));
        };
        if *s.min_count.get_ref() == 0 {
            return Err(cx.err(
                s.min_count.span(),
                format!("{key}.min_count"),
                "must be at least 1",
            ));
        }
        let days = *s.within_days.get_ref();
        if !(days > 0.0 && days.is_finite()) {
            return Err(cx.err(
                s.within_days.span(),
                format!("{key}.within_days"),
                "must be a positive number of days",
            ));
        }
        if signals.iter().any(|x: &Signal| x.name == *s.name.get_ref()) {
            return Err(cx.err(
                s.name.span(),
                format!("{key}.name"),
                "duplicate signal name",
            ));
        }
        let id = signals.len() as u16;
        rules[rule as usize].signals.push(id);
        let within_ms = (days * DAY_MS as f64) as i64;
        let r = &mut rules[rule as usize];
        r.signal_within_ms = r.signal_within_ms.max(within_ms);
        signals.push(Signal {
            name: s.name.get_ref().clone(),
            rule,
            min_count: *s.min_count.get_ref(),
            within_ms: (days * DAY_MS as f64) as i64,
        });
    }

    if signals.len() > 64 {
        return Err(cx.err(0..0, "signals", "at most 64 SQL signals"));
    }

    let mut fit = Vec::new();
    for (i, f) in file.fit.iter().enumerate() {
        fit.push(compile_fit(&cx, i, f)?);
    }
    if fit.len() > MAX_FIT_RULES {
        return Err(cx.err(0..0, "fit", format!("at most {MAX_FIT_RULES} fit rules")));
    }

    // Rules whose categories share a half-life share one running total per lead.
    let mut decay_groups: Vec<Option<f64>> = Vec::new();
    for r in rules.iter_mut() {
        let h = categories[r.category].half_life_ms;
        let g = match decay_groups.iter().position(|x| *x == h) {
            Some(g) => g,
            None => {
                decay_groups.push(h);
                decay_groups.len() - 1
            }
        };
        r.group = g as u8;
    }

    let ev = &file.eviction;
    let days = *ev.evict_after_days.get_ref();
    if !(days >= 0.0 && days.is_finite()) {
        return Err(cx.err(
            ev.evict_after_days.span(),
            "eviction.evict_after_days",
            "must be a non-negative number of days (0 turns eviction off)",
        ));
    }
    let below = *ev.evict_below_points.get_ref();
    if !(below >= 0.0 && below.is_finite()) {
        return Err(cx.err(
            ev.evict_below_points.span(),
            "eviction.evict_below_points",
            "must be a non-negative number of points",
        ));
    }
    let eviction = Eviction {
        after_ms: (days > 0.0).then_some((days * DAY_MS as f64) as i64),
        below_points: below,
    };

    let st = &file.stages;
    let stages = Stages {
        mql_at: *st.mql_at.get_ref(),
        sql_at: *st.sql_at.get_ref(),
        sql_min_fit: st.sql_min_fit,
        mql_recycle_below: *st.mql_recycle_below.get_ref(),
        sql_recycle_below: *st.sql_recycle_below.get_ref(),
        hold_ms: (st.hold_days.max(0.0) * DAY_MS as f64) as i64,
        sweep_interval_ms: st.sweep_interval_minutes.get_ref() * 60_000,
    };
    if stages.sql_at < stages.mql_at {
        return Err(cx.err(
            st.sql_at.span(),
            "stages.sql_at",
            "must be at least stages.mql_at",
        ));
    }
    if stages.mql_recycle_below > stages.mql_at {
        return Err(cx.err(
            st.mql_recycle_below.span(),
            "stages.mql_recycle_below",
            "must not exceed stages.mql_at (hysteresis)",
        ));
    }
    if stages.sql_recycle_below > stages.sql_at {
        return Err(cx.err(
            st.sql_recycle_below.span(),
            "stages.sql_recycle_below",
            "must not exceed stages.sql_at (hysteresis)",
        ));
    }
    if stages.sweep_interval_ms <= 0 {
        return Err(cx.err(
            st.sweep_interval_minutes.span(),
            "stages.sweep_interval_minutes",
            "must be at least 1",
        ));
    }

    let fl = &file.filters;
    let bot_user_agents: Vec<String> = fl
        .bot_user_agents
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let bot_matcher = if bot_user_agents.is_empty() {
        None
    } else {
        Some(
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&bot_user_agents)
                .map_err(|e| cx.err(0..0, "filters.bot_user_agents", e.to_string()))?,
        )
    };
    let filters = Filters {
        bot_user_agents,
        bot_matcher,
        max_events_per_lead_per_minute: fl.max_events_per_lead_per_minute,
        dedupe_window_ms: (fl.dedupe_window_hours.max(0.0) * 3_600_000.0) as i64,
        max_lateness_ms: (fl.max_lateness_hours.max(0.0) * 3_600_000.0) as i64,
    };

    let mut by_type: [Vec<u16>; 6] = Default::default();
    for (id, r) in rules.iter().enumerate() {
        by_type[r.event as usize].push(id as u16);
    }

    // The version hashes the parsed content, so comments and layout do not change it.
    let canonical = serde_json::to_vec(&file).expect("model file serializes to JSON");
    let digest = Sha256::digest(&canonical);
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let version: Arc<str> = Arc::from(format!("{name}-{hex}"));

    Ok(Model {
        name,
        description: file.description.clone(),
        version,
        categories,
        rules,
        signals,
        fit,
        stages,
        filters,
        eviction,
        decay_groups,
        by_type,
    })
}

fn parse_list<T>(
    cx: &Ctx<'_>,
    key: &str,
    items: &[Spanned<String>],
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Vec<T>, ModelError> {
    items
        .iter()
        .map(|s| {
            parse(s.get_ref()).ok_or_else(|| {
                cx.err(
                    s.span(),
                    key,
                    format!(
                        "unknown value \"{}\"; expected one of {allowed}",
                        s.get_ref()
                    ),
                )
            })
        })
        .collect()
}

fn compile_rule(
    cx: &Ctx<'_>,
    i: usize,
    r: &RuleFile,
    cat_ids: &HashMap<String, usize>,
) -> Result<Rule, ModelError> {
    let key = format!("rules[{i}]");
    let name = r.name.get_ref().clone();
    if name.is_empty() {
        return Err(cx.err(r.name.span(), format!("{key}.name"), "must not be empty"));
    }
    let event = match EventType::parse(r.event.get_ref()) {
        Some(EventType::Profile) => {
            return Err(cx.err(
                r.event.span(),
                format!("{key}.event"),
                "profile events feed [[fit]] rules, not behaviour rules",
            ))
        }
        Some(t) => t,
        None => {
            return Err(cx.err(
                r.event.span(),
                format!("{key}.event"),
                format!(
                "unknown event \"{}\"; expected page_view, pricing_page, download, webinar or form",
                r.event.get_ref()
            ),
            ))
        }
    };
    let Some(&category) = cat_ids.get(r.category.get_ref()) else {
        return Err(cx.err(
            r.category.span(),
            format!("{key}.category"),
            format!("no category named \"{}\"", r.category.get_ref()),
        ));
    };
    if !r.points.is_finite() {
        return Err(cx.err(
            r.name.span(),
            format!("{key}.points"),
            "must be a finite number",
        ));
    }
    let w = &r.when;
    let matcher = Matcher {
        path_prefix: w.path_prefix.clone(),
        asset_kind: parse_list(
            cx,
            &format!("{key}.when.asset_kind"),
            &w.asset_kind,
            AssetKind::parse,
            "whitepaper, case_study, ebook, datasheet, other",
        )?,
        action: parse_list(
            cx,
            &format!("{key}.when.action"),
            &w.action,
            WebinarAction::parse,
            "registered, attended, on_demand",
        )?,
        form: parse_list(
            cx,
            &format!("{key}.when.form"),
            &w.form,
            FormKind::parse,
            "contact_us, demo_request, newsletter, other",
        )?,
        plan: w.plan.clone(),
        min_seconds_on_page: w.min_seconds_on_page,
        min_minutes: w.min_minutes,
    };
    let repeat = match &r.repeat {
        None => None,
        Some(rep) => {
            let Some(k) = RepeatKey::parse(rep.key.get_ref()) else {
                return Err(cx.err(
                    rep.key.span(),
                    format!("{key}.repeat.key"),
                    format!(
                        "unknown key \"{}\"; expected path, asset_id, webinar_id, plan or lead",
                        rep.key.get_ref()
                    ),
                ));
            };
            if !k.applies_to(event) {
                return Err(cx.err(
                    rep.key.span(),
                    format!("{key}.repeat.key"),
                    format!("{} events have no field \"{}\"", event, rep.key.get_ref()),
                ));
            }
            let window_ms = match &rep.window_minutes {
                Some(m) if *m.get_ref() <= 0 => {
                    return Err(cx.err(
                        m.span(),
                        format!("{key}.repeat.window_minutes"),
                        "must be at least 1",
                    ))
                }
                Some(m) => Some(m.get_ref() * 60_000),
                None => None,
            };
            Some(Repeat { key: k, window_ms })
        }
    };
    let daily_cap_hits = match &r.daily_cap {
        None => None,
        Some(c) => {
            let cap = *c.get_ref();
            if !(cap >= 0.0 && cap.is_finite()) {
                return Err(cx.err(
                    c.span(),
                    format!("{key}.daily_cap"),
                    "must be a non-negative number of points",
                ));
            }
            let whole_days =
                repeat.is_none_or(|rep| rep.window_ms.is_some_and(|w| DAY_MS % w == 0));
            if !whole_days {
                return Err(cx.err(c.span(), format!("{key}.daily_cap"), "a capped rule's repeat window must divide a day (e.g. 30 or 1440 minutes), so credits stay within their day"));
            }
            if r.points == 0.0 {
                None
            } else {
                Some((cap / r.points.abs()).floor() as u32)
            }
        }
    };
    let instant_stage =
        match &r.instant_stage {
            None => None,
            Some(s) if s.get_ref() == "mql" => Some(Stage::Mql),
            Some(s) => return Err(cx.err(
                s.span(),
                format!("{key}.instant_stage"),
                "only \"mql\" can be reached by a single event; SQL needs score, fit and a signal",
            )),
        };
    Ok(Rule {
        name,
        event,
        matcher,
        points: r.points,
        category,
        repeat,
        daily_cap_hits,
        instant_stage,
        signals: Vec::new(),
        group: 0,
        signal_within_ms: 0,
    })
}

fn compile_fit(cx: &Ctx<'_>, i: usize, f: &FitFile) -> Result<FitRule, ModelError> {
    let key = format!("fit[{i}]");
    let Some(attribute) = FitAttribute::parse(f.attribute.get_ref()) else {
        return Err(cx.err(f.attribute.span(), format!("{key}.attribute"), format!("unknown attribute \"{}\"; expected industry, employees, annual_revenue_usd or country", f.attribute.get_ref())));
    };
    let kind = if attribute.is_numeric() {
        let Some(bands) = &f.bands else {
            return Err(cx.err(
                f.attribute.span(),
                format!("{key}.bands"),
                format!(
                    "{} is numeric: give bands = [{{ min = .., points = .. }}]",
                    f.attribute.get_ref()
                ),
            ));
        };
        let mut v: Vec<(u64, f64)> = bands.get_ref().iter().map(|b| (b.min, b.points)).collect();
        if v.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(cx.err(
                bands.span(),
                format!("{key}.bands"),
                "band minimums must be strictly ascending",
            ));
        }
        if v.len() >= MAX_FIT_OUTCOMES {
            return Err(cx.err(
                bands.span(),
                format!("{key}.bands"),
                format!("at most {} bands", MAX_FIT_OUTCOMES - 1),
            ));
        }
        v.shrink_to_fit();
        FitKind::Bands(v)
    } else {
        let (Some(values), Some(points)) = (&f.values, f.points) else {
            return Err(cx.err(
                f.attribute.span(),
                format!("{key}.in"),
                format!(
                    "{} is a text attribute: give `in = [..]` and `points`",
                    f.attribute.get_ref()
                ),
            ));
        };
        FitKind::InList {
            values: values.iter().map(|s| s.trim().to_string()).collect(),
            points,
        }
    };
    Ok(FitRule {
        name: f.name.get_ref().clone(),
        attribute,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DEFAULT_MODEL_TOML;

    fn err_of(src: &str) -> String {
        compile(src, "m.toml").unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let src = DEFAULT_MODEL_TOML.replace("mql_at = 50.0", "mql_at = 50.0\nmql_at_typo = 3");
        let e = err_of(&src);
        assert!(e.contains("mql_at_typo"), "{e}");
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn unknown_category_names_key_and_line() {
        let src = DEFAULT_MODEL_TOML.replacen("category = \"web\"", "category = \"webb\"", 1);
        let e = err_of(&src);
        let expected_line = src.lines().position(|l| l.contains("\"webb\"")).unwrap() + 1;
        assert!(e.contains("rules[0].category"), "{e}");
        assert!(e.contains(&format!("line {expected_line}:")), "{e}");
        assert!(e.contains("webb"), "{e}");
    }

    #[test]
    fn signal_must_name_a_rule() {
        let src = DEFAULT_MODEL_TOML.replace("rule = \"pricing_page\"", "rule = \"pricing\"");
        assert!(err_of(&src).contains("signals[0].rule"));
    }

    #[test]
    fn hysteresis_must_be_below_entry() {
        let src =
            DEFAULT_MODEL_TOML.replace("mql_recycle_below = 30.0", "mql_recycle_below = 60.0");
        assert!(err_of(&src).contains("stages.mql_recycle_below"));
    }

    #[test]
    fn repeat_key_must_exist_on_the_event() {
        let src = DEFAULT_MODEL_TOML.replacen(
            "repeat = { key = \"asset_id\" }",
            "repeat = { key = \"webinar_id\" }",
            1,
        );
        assert!(err_of(&src).contains("repeat.key"));
    }

    #[test]
    fn daily_cap_becomes_whole_hits() {
        let m = compile(DEFAULT_MODEL_TOML, "d").unwrap();
        let pv = m.rules.iter().find(|r| r.name == "page_view").unwrap();
        assert_eq!(pv.daily_cap_hits, Some(7));
        let pricing = m.rules.iter().find(|r| r.name == "pricing_page").unwrap();
        assert_eq!(pricing.signals.len(), 1);
    }
}
