//! Statistics over seeds.

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
}
