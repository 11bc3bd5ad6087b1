//! Exponential decay in event time.

/// The factor `2^-(dt / half_life)` by which points shrink over `dt_ms`.
/// `dt_ms` may be negative (a late event credited into an older sum grows it
/// forward correctly when the accumulator is behind). `None` never decays.
#[inline]
pub fn decay_factor(dt_ms: i64, half_life_ms: Option<f64>) -> f64 {
    match half_life_ms {
        Some(h) if dt_ms != 0 => (-(dt_ms as f64) / h).exp2(),
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DAY_MS;

    #[test]
    fn points_halve_after_one_half_life() {
        let h = Some(30.0 * DAY_MS as f64);
        assert!((decay_factor(30 * DAY_MS, h) - 0.5).abs() < 1e-12);
        assert!((decay_factor(60 * DAY_MS, h) - 0.25).abs() < 1e-12);
        assert_eq!(decay_factor(0, h), 1.0);
        assert_eq!(decay_factor(365 * DAY_MS, None), 1.0);
    }
}
