//! Statistics over seeds and epochs.

use crate::train::EpochRecord;

/// Mean and sample (n − 1) standard deviation of per-seed results (0 spread for one value,
/// 0 for none).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// The mean over seeds of per-epoch curves, as long as the shortest one (a run stopped early
/// has fewer epochs; the mean is only taken where every seed has a value).
pub fn mean_curve<C: AsRef<[f64]>>(curves: &[C]) -> Vec<f64> {
    let n = curves.iter().map(|c| c.as_ref().len()).min().unwrap_or(0);
    (0..n)
        .map(|e| curves.iter().map(|c| c.as_ref()[e]).sum::<f64>() / curves.len() as f64)
        .collect()
}

/// The median of `v` (the mean of the two middle values for an even count; 0 when empty): a
/// time per epoch that a few epochs slowed by a pause or another process do not move.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    } else {
        v[n / 2]
    }
}

/// A run's time per epoch: the [`median`] of its epochs' wall seconds, so that an epoch slowed
/// by a pause or another process does not move it.
pub fn epoch_seconds(history: &[EpochRecord]) -> f64 {
    median(&history.iter().map(|r| r.seconds).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_uses_the_sample_deviation() {
        let (m, s) = mean_std(&[0.8, 0.9, 1.0]);
        assert!((m - 0.9).abs() < 1e-12 && (s - 0.1).abs() < 1e-12);
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
    }

    #[test]
    fn mean_curve_stops_at_the_shortest_seed() {
        let c = mean_curve(&[vec![0.5, 0.7, 0.9], vec![0.7, 0.9]]);
        assert_eq!(c.len(), 2);
        assert!((c[0] - 0.6).abs() < 1e-12 && (c[1] - 0.8).abs() < 1e-12);
        assert!(mean_curve::<Vec<f64>>(&[]).is_empty());
    }

    #[test]
    fn a_cells_epoch_time_is_the_median_so_a_paused_epoch_does_not_move_it() {
        // Five epochs of 12 s with one that a pause stretched to 600 s: the mean would say
        // 129.6 s.
        assert_eq!(median(&[12.1, 600.0, 11.9, 12.0, 12.2]), 12.1);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[]), 0.0);
    }
}
