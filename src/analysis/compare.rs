//! Baseline against canary: the canary's samples of a metric against the
//! known-good baseline's over the same window, with a Mann–Whitney U rank
//! test (as Kayenta judges) and an allowed effect size.
//!
//! Rule **canary-worse-than-baseline**: the canary fails a metric when the
//! test finds it worse in the metric's bad direction with the confidence
//! asked for (one-sided p-value below `1 − confidence`) *and* its median
//! is worse than the baseline's by more than the allowed effect. A
//! significant but small difference passes (with a million samples,
//! everything differs); a large but not significant one passes too, and
//! says it could not tell.
//!
//! The effect is the difference of the medians relative to the baseline's
//! median (absolute when that is 0). The test uses the normal
//! approximation with the tie correction and a continuity correction,
//! fine from about 8 samples a side; fewer than 3 a side is refused.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::AnalysisError;

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Worse {
    /// Higher is worse (error rates, latency).
    Higher,
    /// Lower is worse (throughput, success rates).
    Lower,
}

/// How to compare one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Comparison {
    /// The metric's name.
    pub metric: String,
    /// Which way is worse.
    pub worse: Worse,
    /// How much worse the canary's median may be, relative to the
    /// baseline's (0.1: 10 %).
    pub allowed_effect: f64,
    /// The confidence a failure needs (0.95: a one-sided p-value below
    /// 0.05; the default).
    #[serde(default = "ninety_five")]
    pub confidence: f64,
}

fn ninety_five() -> f64 {
    0.95
}

impl Comparison {
    /// `metric`, worse `worse`, allowing `allowed_effect` at 95 %
    /// confidence.
    pub fn new(metric: impl Into<String>, worse: Worse, allowed_effect: f64) -> Self {
        Self {
            metric: metric.into(),
            worse,
            allowed_effect,
            confidence: ninety_five(),
        }
    }

    /// Asks for `confidence` (between 0 and 1) before failing.
    #[must_use]
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }
}

/// A comparison's verdict, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComparisonVerdict {
    /// The metric.
    pub metric: String,
    /// Whether the canary passes.
    pub pass: bool,
    /// The Mann–Whitney U of the canary's samples.
    pub u: f64,
    /// The standard score of `u` (positive: the canary ranks higher).
    pub z: f64,
    /// The one-sided p-value that the canary is worse.
    pub p_worse: f64,
    /// The baseline's median.
    pub baseline_median: f64,
    /// The canary's median.
    pub canary_median: f64,
    /// How much worse the canary's median is (negative: better), relative
    /// to the baseline's (absolute when that is 0).
    pub effect: f64,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for ComparisonVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.metric,
            if self.pass { "passes" } else { "fails" },
            self.reason
        )
    }
}

/// The least samples on each side.
const LEAST: usize = 3;

/// Compares `canary` with `baseline` for one metric (rule
/// **canary-worse-than-baseline**, in the module's words).
///
/// ```
/// use knowngood::analysis::{Comparison, Worse, compare};
/// let baseline: Vec<f64> = (0..50).map(|i| 100.0 + f64::from(i % 7)).collect();
/// let canary: Vec<f64> = baseline.iter().map(|v| v * 1.5).collect();
/// let verdict = compare(&Comparison::new("p99", Worse::Higher, 0.1), &baseline, &canary)?;
/// assert!(!verdict.pass);
/// assert!((verdict.effect - 0.5).abs() < 0.01);
/// # Ok::<(), knowngood::analysis::AnalysisError>(())
/// ```
pub fn compare(
    comparison: &Comparison,
    baseline: &[f64],
    canary: &[f64],
) -> Result<ComparisonVerdict, AnalysisError> {
    let finite = |s: &[f64]| -> Vec<f64> { s.iter().copied().filter(|v| v.is_finite()).collect() };
    let (mut baseline, mut canary) = (finite(baseline), finite(canary));
    if baseline.len() < LEAST || canary.len() < LEAST {
        return Err(AnalysisError::TooFewSamples {
            metric: comparison.metric.clone(),
            needed: LEAST,
            baseline: baseline.len(),
            canary: canary.len(),
        });
    }
    baseline.sort_by(f64::total_cmp);
    canary.sort_by(f64::total_cmp);
    let (u, z) = mann_whitney(&baseline, &canary);
    // One-sided, toward the metric's bad direction.
    let toward_worse = match comparison.worse {
        Worse::Higher => z,
        Worse::Lower => -z,
    };
    let p_worse = 0.5 * erfc(toward_worse / std::f64::consts::SQRT_2);
    let (b, c) = (median(&baseline), median(&canary));
    let raw = if b.abs() > f64::EPSILON {
        (c - b) / b.abs()
    } else {
        c - b
    };
    let effect = match comparison.worse {
        Worse::Higher => raw,
        Worse::Lower => -raw,
    };
    let alpha = 1.0 - comparison.confidence;
    let significant = p_worse < alpha;
    let large = effect > comparison.allowed_effect;
    let pass = !(significant && large);
    let worse = match comparison.worse {
        Worse::Higher => "higher",
        Worse::Lower => "lower",
    };
    let reason = format!(
        "canary median {} against baseline {}: {:+.1} % {} (allowed {:.1} %), p = {p_worse:.4} that it is {worse} ({}, U = {u}, z = {z:.2}); {}",
        super::rounded(c),
        super::rounded(b),
        effect * 100.0,
        if effect >= 0.0 { "worse" } else { "better" },
        comparison.allowed_effect * 100.0,
        if significant {
            format!("significant at {:.0} %", comparison.confidence * 100.0)
        } else {
            format!("not significant at {:.0} %", comparison.confidence * 100.0)
        },
        match (significant, large) {
            (true, true) => "worse beyond what is allowed",
            (true, false) => "worse, but within what is allowed",
            (false, true) => "could not tell: too few or too noisy samples",
            (false, false) => "no worse than allowed",
        }
    );
    Ok(ComparisonVerdict {
        metric: comparison.metric.clone(),
        pass,
        u,
        z,
        p_worse,
        baseline_median: b,
        canary_median: c,
        effect,
        reason,
    })
}

/// The canary's U and its standard score, from two sorted samples:
/// average ranks for ties, the tie-corrected variance, a continuity
/// correction of one half toward the mean.
#[allow(
    clippy::cast_precision_loss,
    clippy::float_cmp,
    clippy::many_single_char_names
)]
fn mann_whitney(baseline: &[f64], canary: &[f64]) -> (f64, f64) {
    let (n1, n2) = (canary.len() as f64, baseline.len() as f64);
    let n = n1 + n2;
    // Merge the sorted samples, rank the runs of equal values.
    let (mut i, mut j) = (0_usize, 0_usize);
    let mut rank_sum = 0.0;
    let mut ties = 0.0;
    let mut rank = 1.0;
    while i < canary.len() || j < baseline.len() {
        let value = match (canary.get(i), baseline.get(j)) {
            (Some(c), Some(b)) => c.min(*b),
            (Some(c), None) => *c,
            (None, Some(b)) => *b,
            (None, None) => break,
        };
        let (mut from_canary, mut from_baseline) = (0.0, 0.0);
        // Exactly equal values tie; nothing else does.
        while canary.get(i).is_some_and(|v| *v == value) {
            from_canary += 1.0;
            i = i.saturating_add(1);
        }
        while baseline.get(j).is_some_and(|v| *v == value) {
            from_baseline += 1.0;
            j = j.saturating_add(1);
        }
        let t: f64 = from_canary + from_baseline;
        // The run takes ranks rank ..= rank + t - 1: their mean each.
        let mean = rank + (t - 1.0) / 2.0;
        rank_sum += from_canary * mean;
        ties += t * t * t - t;
        rank += t;
    }
    let u = rank_sum - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return (u, 0.0);
    }
    let distance = u - mean;
    let corrected = (distance.abs() - 0.5).max(0.0).copysign(distance);
    (u, corrected / variance.sqrt())
}

fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    match (
        sorted.len() % 2,
        sorted.get(mid),
        mid.checked_sub(1).and_then(|m| sorted.get(m)),
    ) {
        (1, Some(m), _) => *m,
        (_, Some(hi), Some(lo)) => (hi + lo) / 2.0,
        _ => f64::NAN,
    }
}

/// The complementary error function, to a relative error under 1.2e-7
/// (the Chebyshev fit of Numerical Recipes' `erfcc`).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122),
            (1.0, 0.157_299_207),
            (2.0, 0.004_677_735),
            (-1.0, 1.842_700_793),
        ] {
            assert!((erfc(x) - want).abs() < 1e-6, "erfc({x}) = {}", erfc(x));
        }
    }

    #[test]
    fn median_of_odd_and_even_samples() {
        assert!((median(&[1.0, 2.0, 9.0]) - 2.0).abs() < 1e-12);
        assert!((median(&[1.0, 2.0, 4.0, 9.0]) - 3.0).abs() < 1e-12);
    }
}
