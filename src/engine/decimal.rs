//! Scores rendered with a fixed number of decimals, exactly as Rust's
//! `{:.1}` / `{:.2}` / `{:+.1}` render them, several times faster. Exists
//! because every explanation prints half a dozen scores, and the standard
//! formatting (exact big-number arithmetic) was a tenth of the cost of an
//! event that changes a lead's stage.

use std::fmt;

/// `x` with `decimals` (1 or 2) fractional digits, and a `+` before
/// non-negative values when `plus`. Rounds the exact binary value half to
/// even, like the standard formatting; falls back to it for huge or
/// non-finite values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed {
    pub x: f64,
    pub decimals: u8,
    pub plus: bool,
}

/// `x` as `{:.1}`.
pub(crate) fn d1(x: f64) -> Fixed {
    Fixed {
        x,
        decimals: 1,
        plus: false,
    }
}

/// `x` as `{:.2}`.
pub(crate) fn d2(x: f64) -> Fixed {
    Fixed {
        x,
        decimals: 2,
        plus: false,
    }
}

/// `x` as `{:+.1}`.
pub(crate) fn signed_d1(x: f64) -> Fixed {
    Fixed {
        x,
        decimals: 1,
        plus: true,
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = usize::from(self.decimals);
        let scale = match self.decimals {
            1 => 10.0,
            2 => 100.0,
            _ => 0.0,
        };
        let a = self.x.abs();
        if scale == 0.0 || !a.is_finite() || a >= 1e13 {
            return if self.plus {
                write!(f, "{:+.*}", d, self.x)
            } else {
                write!(f, "{:.*}", d, self.x)
            };
        }
        // The rounded product and its exact error (the product of two
        // doubles minus its rounding is exact with a fused multiply-add).
        let p = a * scale;
        let e = a.mul_add(scale, -p);
        let floor = p.floor();
        let frac = p - floor;
        let up = frac > 0.5 || (frac == 0.5 && (e > 0.0 || (e == 0.0 && floor % 2.0 == 1.0)));
        let n = floor as u64 + u64::from(up);
        let unit = if d == 1 { 10 } else { 100 };
        let sign = if self.x.is_sign_negative() {
            "-"
        } else if self.plus {
            "+"
        } else {
            ""
        };
        write!(f, "{sign}{}.{:0d$}", n / unit, n % unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(x: f64) {
        assert_eq!(d1(x).to_string(), format!("{x:.1}"), "{x:e}");
        assert_eq!(d2(x).to_string(), format!("{x:.2}"), "{x:e}");
        assert_eq!(signed_d1(x).to_string(), format!("{x:+.1}"), "{x:e}");
    }

    #[test]
    fn agrees_with_the_standard_formatting() {
        for x in [
            0.0,
            -0.0,
            0.05,
            0.15,
            0.25,
            0.35,
            0.125,
            0.375,
            2.5,
            -2.5,
            0.045,
            1.005,
            99.995,
            -0.04,
            -0.05,
            1e12,
            9.999_999_999_999e12,
            5e13,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            f64::MIN_POSITIVE,
            123.456_789,
        ] {
            check(x);
        }
        // Every tie and near-tie of cents and tenths up to 1000, and a
        // spread of arbitrary values.
        for k in -200_000i64..200_000 {
            let x = k as f64 / 200.0;
            check(x);
            check(f64::from_bits(x.to_bits() + 1));
            check(f64::from_bits(x.to_bits().wrapping_sub(1)));
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = (s >> 11) as f64 / (1u64 << 53) as f64 * 2e4 - 1e4;
            check(x);
        }
    }
}
