//! Play counts to confidences (Hu et al. 2008; van den Oord et al. 2013, eq. 2).

use serde::{Deserialize, Serialize};

/// How a play count `r > 0` becomes the confidence `c >= 1` of the preference `p = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Confidence {
    /// `c = 1 + alpha * ln(1 + r / eps)` (van den Oord et al., eq. 2).
    Log { alpha: f32, eps: f32 },
    /// `c = 1 + alpha * r` (Hu et al.).
    Linear { alpha: f32 },
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence::Log {
            alpha: 2.0,
            eps: 1.0,
        }
    }
}

impl Confidence {
    /// `None` when the parameters cannot give a finite confidence of at least 1.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Confidence::Log { alpha, eps } => {
                if !(alpha.is_finite() && alpha >= 0.0) {
                    return Err(format!(
                        "confidence alpha is {alpha}; it must be finite and >= 0"
                    ));
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(format!(
                        "confidence eps is {eps}; it must be finite and > 0"
                    ));
                }
            }
            Confidence::Linear { alpha } => {
                if !(alpha.is_finite() && alpha >= 0.0) {
                    return Err(format!(
                        "confidence alpha is {alpha}; it must be finite and >= 0"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The confidence of `plays > 0` (computed in f64, rounded once).
    pub fn of(&self, plays: f32) -> f32 {
        let r = f64::from(plays);
        let c = match *self {
            Confidence::Log { alpha, eps } => 1.0 + f64::from(alpha) * (r / f64::from(eps)).ln_1p(),
            Confidence::Linear { alpha } => 1.0 + f64::from(alpha) * r,
        };
        c as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_formulas() {
        let log = Confidence::Log {
            alpha: 2.0,
            eps: 0.5,
        };
        assert!((log.of(3.0) - (1.0 + 2.0 * (1.0f32 + 6.0).ln())).abs() < 1e-6);
        let lin = Confidence::Linear { alpha: 40.0 };
        assert_eq!(lin.of(2.0), 81.0);
        assert!(Confidence::Log {
            alpha: 1.0,
            eps: 0.0
        }
        .check()
        .is_err());
        assert!(Confidence::Linear { alpha: f32::NAN }.check().is_err());
    }
}
