//! The one rule by which every study judges an arm against its baseline arm.
//!
//! The gain is the difference of the means over seeds, in points; the spread is the sum of
//! the two standard deviations. A negative gain is NEGATIVE TRANSFER, said in capitals in every
//! family; a gain (of either sign) no larger than the spread is called uncertain, because
//! other seeds could reverse it. So is every gain when either arm has a single seed: one
//! value has no spread to measure the gain against.

use serde::Serialize;

use super::stats::mean_std;

/// An arm's final metric over seeds (fractions, e.g. accuracies).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmStats {
    pub arm: String,
    /// One value per seed.
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation over seeds.
    pub std: f64,
}

impl ArmStats {
    /// The statistics of `values` (one per seed).
    pub fn new(arm: impl Into<String>, values: Vec<f64>) -> Self {
        let (mean, std) = mean_std(&values);
        ArmStats {
            arm: arm.into(),
            values,
            mean,
            std,
        }
    }

    /// `87.12% ± 1.05`.
    pub fn percent(&self) -> String {
        format!("{:.2}% ± {:.2}", 100.0 * self.mean, 100.0 * self.std)
    }
}

/// Which way an arm differs from its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Positive,
    Negative,
    Equal,
}

/// An arm judged against the baseline arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub arm: String,
    pub baseline: String,
    /// Arm mean minus baseline mean, in points.
    pub gain_points: f64,
    /// Sum of the two standard deviations, in points.
    pub spread_points: f64,
    pub outcome: Outcome,
    /// |gain| ≤ spread, or an arm with one seed: the seeds do not settle the sign.
    pub uncertain: bool,
    /// One of the two arms has a single seed (so no spread was measured).
    pub one_seed: bool,
    /// The verdict in one line.
    pub line: String,
}

impl Verdict {
    /// Judges `arm` against `baseline`.
    pub fn compare(arm: &ArmStats, baseline: &ArmStats) -> Self {
        let gain = 100.0 * (arm.mean - baseline.mean);
        let spread = 100.0 * (arm.std + baseline.std);
        let outcome = if gain > 0.0 {
            Outcome::Positive
        } else if gain < 0.0 {
            Outcome::Negative
        } else {
            Outcome::Equal
        };
        let one_seed = arm.values.len() < 2 || baseline.values.len() < 2;
        let uncertain = one_seed || gain.abs() <= spread;
        let word = match outcome {
            Outcome::Positive => "positive transfer",
            Outcome::Negative => "NEGATIVE TRANSFER",
            Outcome::Equal => "no difference",
        };
        let n = arm.values.len();
        let mut line = format!(
            "{}: {} vs {} {} over {n} seed{}: {gain:+.2} points, {word}",
            arm.arm,
            arm.percent(),
            baseline.arm,
            baseline.percent(),
            if n == 1 { "" } else { "s" }
        );
        if uncertain && outcome != Outcome::Equal {
            line += &uncertain_because(one_seed, &format!("{spread:.2} points"));
        }
        Verdict {
            arm: arm.arm.clone(),
            baseline: baseline.arm.clone(),
            gain_points: gain,
            spread_points: spread,
            outcome,
            uncertain,
            one_seed,
            line,
        }
    }
}

/// Why a verdict is uncertain, as the end of its line: one seed on a side, or a gain within
/// the seeds' `spread`.
pub fn uncertain_because(one_seed: bool, spread: &str) -> String {
    if one_seed {
        "; one seed, so no spread to judge by: uncertain".to_string()
    } else {
        format!("; within the seeds' spread ({spread}), so uncertain")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worse_arm_is_negative_transfer_and_a_small_gap_is_uncertain() {
        let base = ArmStats::new("scratch", vec![0.80, 0.82]);
        let worse = Verdict::compare(&ArmStats::new("pretrained", vec![0.70, 0.72]), &base);
        assert_eq!(worse.outcome, Outcome::Negative);
        assert!(!worse.uncertain);
        assert!((worse.gain_points + 10.0).abs() < 1e-9);
        assert!(
            worse
                .line
                .starts_with("pretrained: 71.00% ± 1.41 vs scratch 81.00% ± 1.41")
                && worse
                    .line
                    .ends_with("over 2 seeds: -10.00 points, NEGATIVE TRANSFER"),
            "{}",
            worse.line
        );
        let close = Verdict::compare(&ArmStats::new("dann", vec![0.81, 0.83]), &base);
        assert_eq!(close.outcome, Outcome::Positive);
        assert!(
            close.uncertain && close.line.contains("so uncertain"),
            "{}",
            close.line
        );
        let better = Verdict::compare(&ArmStats::new("dann", vec![0.9, 0.9]), &base);
        assert!(!better.uncertain && better.line.ends_with("positive transfer"));
    }

    #[test]
    fn one_seed_on_either_side_is_uncertain_however_large_the_gap() {
        let two = ArmStats::new("scratch", vec![0.80, 0.82]);
        let one = ArmStats::new("pretrained", vec![0.50]);
        for v in [
            Verdict::compare(&one, &two),
            Verdict::compare(&two, &one),
            Verdict::compare(&one, &ArmStats::new("scratch", vec![0.9])),
        ] {
            assert!(v.uncertain, "{}", v.line);
            assert!(
                v.line
                    .ends_with("; one seed, so no spread to judge by: uncertain"),
                "{}",
                v.line
            );
        }
        assert_eq!(Verdict::compare(&one, &two).outcome, Outcome::Negative);
        // Equal means over one seed each: no difference, and nothing to call uncertain.
        let same = Verdict::compare(&one, &ArmStats::new("scratch", vec![0.50]));
        assert!(same.line.ends_with("no difference"), "{}", same.line);
    }
}
