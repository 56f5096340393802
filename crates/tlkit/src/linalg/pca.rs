//! Principal component analysis and whitening.
//!
//! Pearson 1901, "On lines and planes of closest fit to systems of points in space"; whitening
//! as in Bell & Sejnowski 1997, "The 'independent components' of natural scenes are edge
//! filters" (ZCA), and the UFLDL tutorial's PCA/ZCA exercises.
//!
//! For samples `X` (`n × d`) with mean `μ`, the components are the unit eigenvectors `v_i` of
//! the covariance `C = (X − μ)ᵀ(X − μ) / (n − 1)` with the `k` largest eigenvalues `λ_i` (the
//! explained variances), and
//! - PCA: `z = (x − μ) Vᵀ` (`k` values),
//! - PCA whitening: `z_i = (x − μ) · v_i / √(λ_i + ε)` (unit variance per component),
//! - ZCA whitening: `z = ((x − μ) Vᵀ diag(1/√(λ + ε))) V` (`d` values: whitened, rotated back
//!   to the input space, so that whitened image patches still look like patches).
//!
//! # Conventions, against scikit-learn's `PCA`
//! - Variances divide by `n − 1`, as scikit-learn's `explained_variance_` does.
//! - Signs: each component is flipped so that its entry of largest magnitude is positive,
//!   scikit-learn's `svd_flip(u_based_decision=False)` since version 1.5, so components agree
//!   with it entry for entry (up to ties in magnitude).
//! - `whiten = true` in scikit-learn is our PCA whitening with `ε = 0`; scikit-learn has no ZCA.
//!   `ε > 0` (UFLDL uses 1e-5 to 0.1 on image patches) keeps near-zero-variance directions from
//!   blowing up.
//! - The fit uses the symmetric eigendecomposition of the `d × d` covariance (accumulated in
//!   `f64`) when `n ≥ d`, and a thin SVD of the centred data otherwise; both by `faer`.

use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use super::{matmul_rows, to_f64, view};
use crate::{Error, Result};

/// What [`Pca::transform`] does after projecting onto the components.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Whitening {
    /// Plain projection `(x − μ) Vᵀ`.
    #[default]
    None,
    /// Each component divided by `√(λ + ε)`.
    Pca,
    /// PCA whitening rotated back to the input space: `d` values per sample.
    Zca,
}

/// How to fit a [`Pca`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaConfig {
    /// Number of components kept, `1..=min(samples, features)`.
    pub components: usize,
    #[serde(default)]
    pub whitening: Whitening,
    /// Added to each variance before whitening divides by its square root.
    #[serde(default)]
    pub epsilon: f64,
}

impl PcaConfig {
    /// `components` components, no whitening.
    pub fn new(components: usize) -> Self {
        Self {
            components,
            whitening: Whitening::None,
            epsilon: 0.0,
        }
    }
}

/// A fitted PCA.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Width `d` of the samples it was fitted on.
    pub dim: usize,
    /// Per-feature mean `μ` (`d`).
    pub mean: Vec<f32>,
    /// Components `V`, row-major `k × d`, unit rows, by decreasing variance.
    pub components: Vec<f32>,
    /// Variance along each component, `λ_i` (`k`).
    pub explained_variance: Vec<f64>,
    /// `λ_i` over the total variance of the data (`k`).
    pub explained_variance_ratio: Vec<f64>,
    pub whitening: Whitening,
    pub epsilon: f64,
}

/// Rows of the data added to the `f64` covariance at a time, so that a large set is never
/// copied to `f64` whole.
const CHUNK: usize = 4096;

impl Pca {
    /// Fits on `x`, `n` samples of `d` values, row-major.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `x` is not `n × d`, `n < 2`, `components` is not in
    /// `1..=min(n, d)`, `epsilon` is negative or not finite, or a value is not finite.
    pub fn fit(x: &[f32], n: usize, d: usize, cfg: &PcaConfig) -> Result<Pca> {
        let xm = view("PCA data", x, n, d)?;
        if n < 2 {
            return Err(Error::invalid("samples", n, "PCA needs at least 2 samples"));
        }
        let k = cfg.components;
        if k == 0 || k > n.min(d) {
            return Err(Error::invalid(
                "components",
                k,
                format!(
                    "must be between 1 and min(samples, features) = min({n}, {d}) = {}",
                    n.min(d)
                ),
            ));
        }
        if !(cfg.epsilon >= 0.0 && cfg.epsilon.is_finite()) {
            return Err(Error::invalid(
                "epsilon",
                cfg.epsilon,
                "must be a finite value ≥ 0",
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "PCA data",
                x[i],
                format!("sample {}, feature {} is not finite", i / d, i % d),
            ));
        }
        let mut mean = vec![0f64; d];
        for row in x.chunks_exact(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred = |rows: std::ops::Range<usize>| {
            let mut c = to_f64(xm.subrows(rows.start, rows.len()));
            for j in 0..d {
                for i in 0..c.nrows() {
                    c[(i, j)] -= mean[j];
                }
            }
            c
        };
        fn spectral(e: impl std::fmt::Debug) -> Error {
            Error::Training(format!("PCA: the decomposition failed ({e:?})"))
        }
        // (variances by decreasing order, components as columns in that order)
        let (var, vecs): (Vec<f64>, Mat<f64>) = if n >= d {
            let mut cov = Mat::<f64>::zeros(d, d);
            for start in (0..n).step_by(CHUNK) {
                let c = centred(start..(start + CHUNK).min(n));
                cov += c.transpose() * &c;
            }
            cov /= faer::Scale((n - 1) as f64);
            let eig = cov.self_adjoint_eigen(Side::Lower).map_err(spectral)?;
            let s = eig.S().column_vector();
            let order: Vec<usize> = (0..d).rev().take(k).collect();
            (
                order.iter().map(|&i| s[i].max(0.0)).collect(),
                Mat::from_fn(d, k, |r, c| eig.U()[(r, order[c])]),
            )
        } else {
            let svd = centred(0..n).thin_svd().map_err(spectral)?;
            let s = svd.S().column_vector();
            (
                (0..k).map(|i| s[i] * s[i] / (n - 1) as f64).collect(),
                svd.V().subcols(0, k).to_owned(),
            )
        };
        let total: f64 = {
            let mut t = 0f64;
            for start in (0..n).step_by(CHUNK) {
                let c = centred(start..(start + CHUNK).min(n));
                t += c.squared_norm_l2();
            }
            t / (n - 1) as f64
        };
        let mut components = Vec::with_capacity(k * d);
        for c in 0..k {
            let col: Vec<f64> = (0..d).map(|r| vecs[(r, c)]).collect();
            let big = col
                .iter()
                .fold(0f64, |b, &v| if v.abs() > b.abs() { v } else { b });
            let sign = if big < 0.0 { -1.0 } else { 1.0 };
            components.extend(col.iter().map(|v| (sign * v) as f32));
        }
        Ok(Pca {
            dim: d,
            mean: mean.iter().map(|&m| m as f32).collect(),
            components,
            explained_variance_ratio: var
                .iter()
                .map(|v| v / total.max(f64::MIN_POSITIVE))
                .collect(),
            explained_variance: var,
            whitening: cfg.whitening,
            epsilon: cfg.epsilon,
        })
    }

    /// Number of components `k`.
    pub fn num_components(&self) -> usize {
        self.explained_variance.len()
    }

    /// Values per sample that [`Pca::transform`] gives: `k`, or `d` with ZCA.
    pub fn output_width(&self) -> usize {
        match self.whitening {
            Whitening::Zca => self.dim,
            _ => self.num_components(),
        }
    }

    /// Per-component scale of whitening, `1/√(λ + ε)`; ones without whitening.
    fn scale(&self) -> Result<Vec<f32>> {
        if self.whitening == Whitening::None {
            return Ok(vec![1.0; self.num_components()]);
        }
        // Below this a variance is rounding noise of a direction the data does not span.
        let zero = self.explained_variance[0] * 1e-10;
        self.explained_variance
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v + self.epsilon > zero && v + self.epsilon > 0.0 {
                    Ok((1.0 / (v + self.epsilon).sqrt()) as f32)
                } else {
                    Err(Error::invalid(
                        "epsilon",
                        self.epsilon,
                        format!(
                            "component {i} has zero variance, so whitening divides by zero; \
                             set epsilon > 0 or keep fewer components"
                        ),
                    ))
                }
            })
            .collect()
    }

    /// Projects (and whitens) `n` samples `x`.
    ///
    /// # Shapes
    /// `[n, d]` → `[n, k]` (`[n, d]` with ZCA), row-major.
    pub fn transform(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (d, k) = (self.dim, self.num_components());
        let v = view("PCA components", &self.components, k, d)?;
        let mut z = matmul_rows(view("data", x, n, d)?, v.transpose());
        let mu_v = matmul_rows(view("mean", &self.mean, 1, d)?, v.transpose());
        let scale = self.scale()?;
        for row in z.chunks_exact_mut(k) {
            for ((z, m), s) in row.iter_mut().zip(&mu_v).zip(&scale) {
                *z = (*z - m) * s;
            }
        }
        if self.whitening == Whitening::Zca {
            z = matmul_rows(view("codes", &z, n, k)?, v);
        }
        Ok(z)
    }

    /// Maps `n` transformed samples back to the input space: the reconstruction from `k`
    /// components (exact when `k = d`).
    ///
    /// # Shapes
    /// `[n, k]` (`[n, d]` with ZCA) → `[n, d]`, row-major.
    pub fn inverse_transform(&self, z: &[f32], n: usize) -> Result<Vec<f32>> {
        let (d, k) = (self.dim, self.num_components());
        let v = view("PCA components", &self.components, k, d)?;
        let mut y = if self.whitening == Whitening::Zca {
            matmul_rows(view("ZCA codes", z, n, d)?, v.transpose())
        } else {
            view("PCA codes", z, n, k)?;
            z.to_vec()
        };
        let scale = self.scale()?;
        for row in y.chunks_exact_mut(k) {
            for (y, s) in row.iter_mut().zip(&scale) {
                *y /= s;
            }
        }
        let mut x = matmul_rows(view("codes", &y, n, k)?, v);
        for row in x.chunks_exact_mut(d) {
            for (x, m) in row.iter_mut().zip(&self.mean) {
                *x += m;
            }
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::digits_rows;

    fn digits(n: usize) -> Vec<f32> {
        digits_rows(0..n)
    }

    // Golden values from scikit-learn 1.9.1, run from the repository root:
    //
    // import numpy as np
    // from sklearn.decomposition import PCA
    // X = np.loadtxt("crates/tlkit/data/optdigits.tes.gz", delimiter=",")[:, :64] / 16.0
    // for n in (300, 40):
    //     p = PCA(n_components=10, svd_solver="full").fit(X[:n])
    //     w = PCA(n_components=10, svd_solver="full", whiten=True).fit(X[:n])
    //     print(p.explained_variance_, p.explained_variance_ratio_, p.components_[:2],
    //           p.transform(X[:4]), w.transform(X[:2]))
    const VAR_N300: [f64; 10] = [
        7.969533e-01,
        6.907429e-01,
        6.183815e-01,
        4.516613e-01,
        3.298338e-01,
        2.254127e-01,
        1.990837e-01,
        1.641711e-01,
        1.330507e-01,
        1.235341e-01,
    ];
    const RATIO_N300: [f64; 10] = [
        1.698032e-01,
        1.471735e-01,
        1.317557e-01,
        9.623342e-02,
        7.027618e-02,
        4.802765e-02,
        4.241787e-02,
        3.497918e-02,
        2.834851e-02,
        2.632085e-02,
    ];
    const COMP01_N300: [f64; 128] = [
        -2.913330e-18,
        -9.841402e-04,
        -8.866128e-03,
        -1.188662e-01,
        5.678261e-02,
        1.718440e-01,
        4.421529e-02,
        4.093122e-03,
        -6.938894e-18,
        -3.543071e-02,
        -1.551356e-01,
        -1.978431e-01,
        1.201930e-01,
        2.633259e-01,
        8.843795e-02,
        1.139973e-03,
        -6.462349e-27,
        -7.598203e-02,
        -3.181022e-01,
        -3.898518e-02,
        2.519347e-01,
        2.732627e-01,
        4.958431e-02,
        1.216014e-04,
        -1.037147e-04,
        -5.590237e-02,
        -2.034314e-01,
        5.919169e-02,
        3.258123e-01,
        2.368164e-01,
        -1.265841e-03,
        -0.000000e+00,
        -0.000000e+00,
        -3.353463e-02,
        -1.744520e-01,
        -8.846366e-02,
        1.717177e-01,
        1.634382e-01,
        -4.155142e-03,
        -0.000000e+00,
        -0.000000e+00,
        -3.161104e-02,
        -2.604216e-01,
        -1.792968e-01,
        9.076317e-02,
        5.770496e-02,
        -7.457201e-02,
        -4.039023e-04,
        -0.000000e+00,
        -1.283557e-02,
        -2.256923e-01,
        -1.846002e-01,
        5.172190e-02,
        1.218362e-02,
        -1.142503e-01,
        -2.495588e-03,
        -0.000000e+00,
        -1.444726e-03,
        -1.660801e-03,
        -1.131644e-01,
        -7.410363e-02,
        -1.329786e-02,
        -4.919419e-02,
        -2.776711e-04,
        6.354556e-18,
        2.367212e-02,
        2.553733e-01,
        2.469523e-01,
        -5.555046e-02,
        -1.973679e-02,
        -2.305750e-03,
        -9.846605e-04,
        5.551115e-17,
        7.737499e-02,
        3.190878e-01,
        1.797585e-02,
        -3.545404e-02,
        1.073189e-01,
        1.626724e-02,
        -1.885952e-04,
        -1.033976e-25,
        7.812841e-02,
        1.040317e-01,
        -2.154174e-01,
        -6.269769e-02,
        1.116707e-01,
        2.223214e-02,
        -1.225754e-04,
        -3.152395e-04,
        -7.384987e-03,
        -1.149446e-01,
        -1.327249e-01,
        5.239006e-03,
        4.299563e-02,
        1.747016e-03,
        -0.000000e+00,
        -0.000000e+00,
        -8.273157e-02,
        -2.852346e-01,
        -2.917416e-01,
        -2.129939e-01,
        1.863078e-02,
        5.416238e-04,
        -0.000000e+00,
        -0.000000e+00,
        -4.677696e-02,
        -1.778400e-01,
        -3.008206e-01,
        -2.986653e-01,
        6.936911e-02,
        6.958327e-02,
        -2.299531e-04,
        -0.000000e+00,
        8.129364e-03,
        1.305592e-01,
        -2.642305e-02,
        -8.287719e-02,
        1.632323e-01,
        6.007008e-02,
        -4.299901e-04,
        -0.000000e+00,
        2.182642e-02,
        2.648320e-01,
        2.590496e-01,
        -5.141412e-03,
        -2.630563e-02,
        -6.143988e-03,
        1.253676e-03,
    ];
    const Z_N300: [f64; 40] = [
        -5.911766e-01,
        1.117626e+00,
        6.761485e-01,
        -1.005490e+00,
        4.798447e-01,
        -2.255975e-01,
        1.871861e-01,
        1.164910e-01,
        -2.796484e-01,
        -1.636745e-01,
        4.313304e-01,
        -1.106036e+00,
        -3.750525e-01,
        7.478155e-01,
        -5.509094e-01,
        -1.788208e-01,
        1.856454e-01,
        -1.406973e-01,
        4.412415e-02,
        -4.741405e-01,
        1.900555e-01,
        -8.227002e-01,
        3.194351e-02,
        7.732801e-01,
        1.270684e+00,
        -6.181862e-01,
        1.253344e-02,
        -3.632600e-01,
        -2.678618e-03,
        -3.196125e-01,
        3.213560e-01,
        8.114372e-01,
        3.523854e-01,
        1.012007e+00,
        -6.920185e-01,
        3.424933e-01,
        -3.756397e-01,
        1.581624e-01,
        -4.589969e-01,
        2.668546e-01,
    ];
    const ZW_N300: [f64; 20] = [
        -6.622177e-01,
        1.344739e+00,
        8.598325e-01,
        -1.496137e+00,
        8.355129e-01,
        -4.751657e-01,
        4.195230e-01,
        2.875041e-01,
        -7.666617e-01,
        -4.656799e-01,
        4.831630e-01,
        -1.330795e+00,
        -4.769401e-01,
        1.112726e+00,
        -9.592519e-01,
        -3.766421e-01,
        4.160699e-01,
        -3.472461e-01,
        1.209672e-01,
        -1.349005e+00,
    ];
    const VAR_N40: [f64; 10] = [
        8.120873e-01,
        7.626621e-01,
        6.552249e-01,
        5.133381e-01,
        3.442076e-01,
        2.149317e-01,
        1.897933e-01,
        1.878487e-01,
        1.570791e-01,
        1.208879e-01,
    ];
    const RATIO_N40: [f64; 10] = [
        1.736218e-01,
        1.630549e-01,
        1.400851e-01,
        1.097502e-01,
        7.359055e-02,
        4.595176e-02,
        4.057725e-02,
        4.016149e-02,
        3.358305e-02,
        2.584546e-02,
    ];
    const COMP01_N40: [f64; 128] = [
        0.000000e+00,
        3.507947e-02,
        2.847321e-01,
        1.911002e-01,
        -1.723618e-01,
        -2.172311e-02,
        2.320670e-02,
        -2.259420e-04,
        0.000000e+00,
        1.060323e-01,
        3.445837e-01,
        5.574471e-02,
        -2.758151e-02,
        4.000720e-02,
        1.044017e-02,
        2.584939e-26,
        -8.077936e-28,
        5.996379e-02,
        1.505704e-01,
        -1.273943e-01,
        1.164108e-01,
        -6.143664e-02,
        -4.616244e-02,
        0.000000e+00,
        0.000000e+00,
        3.348120e-03,
        -4.961005e-02,
        -1.334391e-02,
        2.264812e-01,
        -5.014629e-02,
        -8.879635e-02,
        0.000000e+00,
        0.000000e+00,
        -8.642019e-02,
        -3.057824e-01,
        -2.818628e-01,
        -8.262342e-02,
        -5.376368e-03,
        -4.041055e-02,
        0.000000e+00,
        0.000000e+00,
        -3.750895e-02,
        -2.693244e-01,
        -3.202867e-01,
        -1.777723e-01,
        -9.577431e-02,
        5.784826e-02,
        0.000000e+00,
        0.000000e+00,
        8.850679e-03,
        7.841286e-02,
        -2.259149e-02,
        -7.836867e-02,
        -4.599848e-02,
        8.319796e-02,
        1.024737e-02,
        0.000000e+00,
        2.274625e-02,
        2.953929e-01,
        2.320223e-01,
        -9.459441e-02,
        -4.820583e-02,
        6.310195e-02,
        1.281557e-02,
        4.440892e-16,
        -2.847286e-02,
        -1.048354e-01,
        -6.816112e-03,
        -7.883782e-02,
        -2.032192e-01,
        -6.329031e-02,
        -1.823828e-03,
        -3.469447e-18,
        -4.033950e-02,
        -1.603904e-01,
        -3.158300e-02,
        9.518711e-02,
        -2.499619e-01,
        -1.173504e-01,
        0.000000e+00,
        0.000000e+00,
        -6.768692e-02,
        -1.467792e-01,
        2.221448e-01,
        2.966865e-01,
        -1.253123e-01,
        -1.187848e-01,
        0.000000e+00,
        0.000000e+00,
        -8.563047e-02,
        -1.623279e-01,
        1.433553e-01,
        1.229373e-01,
        -2.730461e-02,
        -8.687417e-02,
        0.000000e+00,
        0.000000e+00,
        -6.572597e-02,
        -2.478582e-01,
        -3.097725e-02,
        4.300006e-02,
        8.892865e-02,
        -3.823194e-02,
        0.000000e+00,
        0.000000e+00,
        -4.109982e-02,
        -1.091515e-01,
        5.681212e-02,
        -9.420021e-02,
        9.656637e-03,
        1.779900e-01,
        0.000000e+00,
        0.000000e+00,
        -2.422348e-02,
        -1.533883e-01,
        -3.009528e-02,
        -1.010630e-01,
        1.046357e-01,
        3.183427e-01,
        2.756573e-02,
        0.000000e+00,
        -2.081686e-02,
        -1.560376e-01,
        -9.894691e-02,
        1.814080e-01,
        3.820890e-01,
        2.336732e-01,
        1.571311e-02,
    ];
    const Z_N40: [f64; 40] = [
        3.354934e-01,
        -1.052570e+00,
        -1.438075e+00,
        1.389398e-01,
        -3.156681e-01,
        -2.580481e-01,
        -2.610013e-02,
        2.022230e-01,
        1.540471e-01,
        -2.190147e-01,
        -7.157701e-01,
        6.862170e-01,
        1.285586e+00,
        -2.459660e-01,
        2.177566e-01,
        3.135677e-01,
        -2.564745e-01,
        3.584322e-01,
        -2.432976e-01,
        -2.164135e-01,
        -9.647088e-01,
        3.286751e-01,
        4.885356e-01,
        -1.015244e-01,
        -1.430989e+00,
        5.132477e-01,
        -2.789960e-01,
        5.747900e-01,
        -6.339288e-01,
        6.155675e-02,
        8.478396e-01,
        1.047538e+00,
        -1.852059e-02,
        1.881498e-01,
        1.112055e-01,
        -1.709634e-01,
        8.415232e-01,
        -1.087246e-01,
        2.998015e-01,
        -1.138758e-01,
    ];
    const ZW_N40: [f64; 20] = [
        3.722910e-01,
        -1.205272e+00,
        -1.776587e+00,
        1.939210e-01,
        -5.380474e-01,
        -5.566093e-01,
        -5.991041e-02,
        4.665804e-01,
        3.886819e-01,
        -6.299149e-01,
        -7.942774e-01,
        7.857699e-01,
        1.588203e+00,
        -3.432997e-01,
        3.711599e-01,
        6.763649e-01,
        -5.887131e-01,
        8.269950e-01,
        -6.138731e-01,
        -6.224335e-01,
    ];

    /// Entries of `a` equal `b` within `tol`, after flipping `a`'s sign per row of `width`
    /// when that matches better (components are defined up to sign).
    fn assert_close_up_to_sign(what: &str, a: &[f32], b: &[f64], width: usize, tol: f64) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (r, (ra, rb)) in a.chunks(width).zip(b.chunks(width)).enumerate() {
            let err = |s: f64| {
                ra.iter()
                    .zip(rb)
                    .map(|(&x, &y)| (s * f64::from(x) - y).abs())
                    .fold(0.0, f64::max)
            };
            let e = err(1.0).min(err(-1.0));
            assert!(e < tol, "{what} row {r}: max error {e}");
        }
    }

    /// Column `c` of the row-major `rows × width` buffer `z`.
    fn column(z: &[f32], width: usize, c: usize) -> Vec<f32> {
        z.chunks(width).map(|r| r[c]).collect()
    }

    fn golden(n: usize, var: &[f64], ratio: &[f64], comp: &[f64], z: &[f64], zw: &[f64]) {
        let x = digits(n);
        let p = Pca::fit(&x, n, 64, &PcaConfig::new(10)).unwrap();
        for (a, b) in p.explained_variance.iter().zip(var) {
            assert!((a - b).abs() < 1e-5 * b.max(1.0), "variance {a} vs {b}");
        }
        for (a, b) in p.explained_variance_ratio.iter().zip(ratio) {
            assert!((a - b).abs() < 1e-5, "ratio {a} vs {b}");
        }
        assert_close_up_to_sign("components", &p.components[..128], comp, 64, 1e-4);
        // Signs agree with scikit-learn's rule, not only up to sign.
        for (a, b) in p.components[..128].iter().zip(comp) {
            assert!(
                (f64::from(*a) - b).abs() < 1e-4,
                "component sign: {a} vs {b}"
            );
        }
        // Transforms compared per component (a column of codes flips with its component).
        let got = p.transform(&x[..4 * 64], 4).unwrap();
        let want: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        for c in 0..10 {
            let w: Vec<f64> = column(&want, 10, c).iter().map(|&v| f64::from(v)).collect();
            assert_close_up_to_sign("transform", &column(&got, 10, c), &w, 4, 1e-4);
        }
        let cfg = PcaConfig {
            whitening: Whitening::Pca,
            ..PcaConfig::new(10)
        };
        let w = Pca::fit(&x, n, 64, &cfg).unwrap();
        let got = w.transform(&x[..2 * 64], 2).unwrap();
        for (a, b) in got.iter().zip(zw) {
            assert!((f64::from(*a) - b).abs() < 2e-4, "whitened {a} vs {b}");
        }
    }

    #[test]
    fn matches_scikit_learn_by_covariance_eigen_when_samples_outnumber_features() {
        golden(300, &VAR_N300, &RATIO_N300, &COMP01_N300, &Z_N300, &ZW_N300);
    }

    #[test]
    fn matches_scikit_learn_by_svd_when_features_outnumber_samples() {
        golden(40, &VAR_N40, &RATIO_N40, &COMP01_N40, &Z_N40, &ZW_N40);
    }

    #[test]
    fn all_components_reconstruct_and_zca_whitens_to_identity_covariance() {
        let n = 500;
        let x = digits(n);
        // 64 pixels, some always blank: keep the 40 with variance, ε keeps whitening finite.
        for whitening in [Whitening::None, Whitening::Pca, Whitening::Zca] {
            let cfg = PcaConfig {
                components: 64,
                whitening,
                epsilon: 1e-6,
            };
            let p = Pca::fit(&x, n, 64, &cfg).unwrap();
            let z = p.transform(&x, n).unwrap();
            assert_eq!(z.len(), n * p.output_width());
            let back = p.inverse_transform(&z, n).unwrap();
            let err = back
                .iter()
                .zip(&x)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-3, "{whitening:?}: reconstruction error {err}");
        }
        let cfg = PcaConfig {
            components: 20,
            whitening: Whitening::Zca,
            epsilon: 0.0,
        };
        let p = Pca::fit(&x, n, 64, &cfg).unwrap();
        let z = p.transform(&x, n).unwrap();
        // ZCA codes live in pixel space; projected on the components they have unit variance.
        let proj = matmul_rows(
            view("z", &z, n, 64).unwrap(),
            view("v", &p.components, 20, 64).unwrap().transpose(),
        );
        for c in 0..20 {
            let col = column(&proj, 20, c);
            let var = col.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / (n - 1) as f64;
            assert!((var - 1.0).abs() < 1e-3, "component {c}: variance {var}");
        }
    }

    #[test]
    fn fewer_components_reconstruct_with_the_unexplained_variance_as_error() {
        let n = 400;
        let x = digits(n);
        let p = Pca::fit(&x, n, 64, &PcaConfig::new(8)).unwrap();
        let back = p
            .inverse_transform(&p.transform(&x, n).unwrap(), n)
            .unwrap();
        let sse: f64 = back
            .iter()
            .zip(&x)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum();
        let full = Pca::fit(&x, n, 64, &PcaConfig::new(64)).unwrap();
        let rest: f64 = full.explained_variance[8..].iter().sum::<f64>() * (n - 1) as f64;
        assert!((sse - rest).abs() < 1e-3 * rest, "{sse} vs {rest}");
    }

    #[test]
    fn bad_input_names_the_value() {
        let x = digits(10);
        let e = Pca::fit(&x, 10, 64, &PcaConfig::new(11))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("components = 11") && e.contains("min(10, 64) = 10"),
            "{e}"
        );
        let e = Pca::fit(&x, 10, 64, &PcaConfig::new(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("components = 0"), "{e}");
        let e = Pca::fit(&x[..64], 1, 64, &PcaConfig::new(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("samples = 1"), "{e}");
        let e = Pca::fit(&x, 10, 63, &PcaConfig::new(1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("640 values") && e.contains("10 rows of 63"),
            "{e}"
        );
        let cfg = PcaConfig {
            epsilon: -1.0,
            ..PcaConfig::new(2)
        };
        let e = Pca::fit(&x, 10, 64, &cfg).unwrap_err().to_string();
        assert!(e.contains("epsilon = -1"), "{e}");
        // Whitening a blank pixel's direction with ε = 0 divides by zero: an error, not NaN.
        let cfg = PcaConfig {
            components: 10,
            whitening: Whitening::Pca,
            epsilon: 0.0,
        };
        let p = Pca::fit(&x, 10, 64, &cfg).unwrap();
        let e = p.transform(&x, 10).unwrap_err().to_string();
        assert!(e.contains("zero variance"), "{e}");
        let p = Pca::fit(&x, 10, 64, &PcaConfig::new(3)).unwrap();
        let e = p.transform(&x[..100], 2).unwrap_err().to_string();
        assert!(e.contains("data = 100 values"), "{e}");
    }
}
