//! Dense linear algebra shared by the families: PCA and whitening, and the small bridge
//! between tlkit's row-major `f32` buffers (one sample per row, as [`crate::data::Dataset`]
//! holds them) and `faer`'s matrices, which do the decompositions and products.

pub mod pca;

pub use pca::{Pca, PcaConfig, Whitening};

use faer::{Accum, Mat, MatMut, MatRef};

use crate::{Error, Result};

/// A row-major buffer of `rows × cols` values viewed as a matrix, without copying.
///
/// # Errors
/// [`Error::Invalid`] naming `what` when the buffer does not hold `rows × cols` values.
pub fn view<'a, T>(what: &str, x: &'a [T], rows: usize, cols: usize) -> Result<MatRef<'a, T>> {
    if rows.checked_mul(cols) != Some(x.len()) {
        return Err(Error::invalid(
            what,
            format!("{} values", x.len()),
            format!("expected {rows} rows of {cols} values"),
        ));
    }
    Ok(MatRef::from_row_major_slice(x, rows, cols))
}

/// The product `a · b` as a row-major buffer (`a.nrows() × b.ncols()`).
///
/// # Shapes
/// `[n, k] · [k, m]` → `[n, m]`.
pub fn matmul_rows(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> Vec<f32> {
    let (n, m) = (a.nrows(), b.ncols());
    let mut out = vec![0f32; n * m];
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(&mut out, n, m),
        Accum::Replace,
        a,
        b,
        1.0,
        faer::get_global_parallelism(),
    );
    out
}

/// The entries of `m` in row-major order.
pub fn to_rows<T: Copy>(m: MatRef<'_, T>) -> Vec<T> {
    let mut out = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        out.extend((0..m.ncols()).map(|j| m[(i, j)]));
    }
    out
}

/// `x` (row-major, `rows × cols`) converted to an `f64` matrix, for decompositions whose
/// accuracy `f32` would spoil (a covariance of 60 000 samples).
pub fn to_f64(x: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| f64::from(x[(i, j)]))
}

/// Rows of the optdigits file embedded in the library, in file order, for golden tests that
/// Python reproduces with `np.loadtxt("crates/tlkit/data/optdigits.tes.gz", delimiter=",")
/// [rows, :64] / 16.0` (scikit-learn's `load_digits`).
#[cfg(test)]
pub(crate) fn digits_rows(rows: std::ops::Range<usize>) -> Vec<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/optdigits.tes.gz");
    let opts = crate::data::embedded::optdigits_csv_options();
    let all = crate::data::load_csv(path, &opts, "optdigits").unwrap();
    all.x[rows.start * 64..rows.end * 64].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_and_products_are_row_major() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3×2
        let p = matmul_rows(view("a", &a, 2, 3).unwrap(), view("b", &b, 3, 2).unwrap());
        assert_eq!(p, vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(
            to_rows(view("a", &a, 2, 3).unwrap().transpose()),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        let e = view("codes", &a, 4, 2).unwrap_err().to_string();
        assert!(
            e.contains("codes = 6 values") && e.contains("4 rows of 2"),
            "{e}"
        );
    }
}
