//! NumPy `.npy` arrays and `.npz` archives (NumPy's format NEP 1), read with the `npyz` crate.
//!
//! Booleans, signed and unsigned integers of 1 to 8 bytes and 4- or 8-byte floats, either byte
//! order, are converted to `f32`; Fortran-ordered arrays are transposed to C order so that the
//! returned values always follow the returned shape row-major.

use std::cmp::Reverse;
use std::io::Read;
use std::path::Path;

use npyz::{DType, NpyFile, TypeChar};

use super::dataset::Dataset;
use super::limits::{Limits, first_non_finite};
use crate::{Error, Result};

/// Defines a reader that converts any supported dtype to `$out` with an `as` cast.
macro_rules! numeric_reader {
    ($fname:ident, $out:ty) => {
        fn $fname<R: Read>(npy: NpyFile<R>, path: &Path, at: &Option<String>) -> Result<Vec<$out>> {
            fn cast<R: Read, T: npyz::Deserialize + Copy>(
                npy: NpyFile<R>,
                f: impl Fn(T) -> $out,
            ) -> std::io::Result<Vec<$out>> {
                Ok(npy.into_vec::<T>()?.into_iter().map(f).collect())
            }
            let dtype = npy.dtype();
            let DType::Plain(ts) = &dtype else {
                return Err(unsupported(path, at, &dtype));
            };
            let read = match (ts.type_char(), ts.size_field()) {
                (TypeChar::Bool, 1) => cast(npy, |v: bool| u8::from(v) as $out),
                (TypeChar::Uint, 1) => cast(npy, |v: u8| v as $out),
                (TypeChar::Uint, 2) => cast(npy, |v: u16| v as $out),
                (TypeChar::Uint, 4) => cast(npy, |v: u32| v as $out),
                (TypeChar::Uint, 8) => cast(npy, |v: u64| v as $out),
                (TypeChar::Int, 1) => cast(npy, |v: i8| v as $out),
                (TypeChar::Int, 2) => cast(npy, |v: i16| v as $out),
                (TypeChar::Int, 4) => cast(npy, |v: i32| v as $out),
                (TypeChar::Int, 8) => cast(npy, |v: i64| v as $out),
                (TypeChar::Float, 4) => cast(npy, |v: f32| v as $out),
                (TypeChar::Float, 8) => cast(npy, |v: f64| v as $out),
                _ => return Err(unsupported(path, at, &dtype)),
            };
            read.map_err(|e| {
                Error::format(
                    path,
                    at.clone(),
                    format!(
                        "the data does not match the header ({e}); \
                         the file is truncated or corrupt, write it again"
                    ),
                )
            })
        }
    };
}

numeric_reader!(read_f32, f32);
numeric_reader!(read_f64, f64);

fn unsupported(path: &Path, at: &Option<String>, dtype: &DType) -> Error {
    Error::format(
        path,
        at.clone(),
        format!(
            "dtype `{}` is not supported; save the array as a bool, integer or float32/float64 \
             array (e.g. `x.astype(np.float32)`)",
            dtype.descr()
        ),
    )
}

/// Reads the header of an array and returns it with its shape.
fn open_npy<R: Read>(reader: R, path: &Path, at: &Option<String>) -> Result<NpyFile<R>> {
    NpyFile::new(reader).map_err(|e| {
        Error::format(
            path,
            at.clone(),
            format!("not a valid NPY array ({e}); expected a file written by numpy.save"),
        )
    })
}

/// The shape of an array whose header is believable: its value count, in checked arithmetic,
/// within [`Limits::max_values`] (a header may claim any shape; reading allocates for it).
fn checked_shape<R: Read>(
    npy: &NpyFile<R>,
    path: &Path,
    at: &Option<String>,
) -> Result<Vec<usize>> {
    let shape = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect::<Vec<_>>();
    Limits::current()?.values(&shape, || match at {
        Some(a) => format!("{} ({a}): array", path.display()),
        None => format!("{}: array", path.display()),
    })?;
    Ok(shape)
}

/// Reorders Fortran-ordered (first axis fastest) values into C order (last axis fastest).
fn fortran_to_c<T: Copy>(values: Vec<T>, shape: &[usize]) -> Vec<T> {
    if shape.len() < 2 {
        return values;
    }
    // Strides of the Fortran layout, indexed by axis.
    let mut f_stride = vec![1usize; shape.len()];
    for d in 1..shape.len() {
        f_stride[d] = f_stride[d - 1] * shape[d - 1];
    }
    let mut out = Vec::with_capacity(values.len());
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..values.len() {
        let off: usize = idx.iter().zip(&f_stride).map(|(i, s)| i * s).sum();
        out.push(values[off]);
        // Advance the C-order multi-index: last axis fastest.
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Reads one array as `f32` values in C order, with its shape.
fn read_array<R: Read>(
    npy: NpyFile<R>,
    path: &Path,
    at: &Option<String>,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let shape = checked_shape(&npy, path, at)?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let mut values = read_f32(npy, path, at)?;
    if fortran {
        values = fortran_to_c(values, &shape);
    }
    Ok((values, shape))
}

/// Reads an `.npy` file as `f32` values in C order, and its shape.
///
/// bool, (u)int8..64, float32 and float64 of either byte order are converted.
pub fn load_npy(path: impl AsRef<Path>) -> Result<(Vec<f32>, Vec<usize>)> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let npy = open_npy(std::io::BufReader::new(file), path, &None)?;
    read_array(npy, path, &None)
}

/// Opens the array `key` of an archive (with or without the `.npy` suffix).
fn npz_array<'a>(
    archive: &'a mut npyz::npz::NpzArchive<std::io::BufReader<std::fs::File>>,
    key: &str,
    path: &Path,
) -> Result<NpyFile<impl Read + 'a>> {
    let key = key.strip_suffix(".npy").unwrap_or(key);
    let mut names: Vec<String> = archive.array_names().map(str::to_string).collect();
    names.sort();
    let at = Some(format!("array `{key}`"));
    if !names.iter().any(|n| n == key) {
        return Err(Error::format(
            path,
            at,
            format!(
                "no such array; the archive holds [{}]; pass one of these as the key",
                names.join(", ")
            ),
        ));
    }
    match archive.by_name(key) {
        Ok(Some(npy)) => Ok(npy),
        Ok(None) => Err(Error::format(path, at, "no such array")),
        Err(e) => Err(Error::format(
            path,
            at,
            format!("not a valid NPY array inside the archive ({e})"),
        )),
    }
}

/// Loads a dataset named `name` from an `.npz` archive: samples from array `x_key` (shape
/// `[n, ...]`; a 1-D array gives samples of shape `[1]`) and class labels from `y_key` (`n`
/// non-negative whole numbers, shape `[n]` or `[n, 1]`). `num_classes` is `max label + 1`.
pub fn load_npz(path: impl AsRef<Path>, x_key: &str, y_key: &str, name: &str) -> Result<Dataset> {
    let path = path.as_ref();
    let mut archive = npyz::npz::NpzArchive::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::io("open", path, e),
        _ => Error::format(
            path,
            None,
            format!("not a valid NPZ (zip) archive ({e}); expected a file written by numpy.savez"),
        ),
    })?;

    let x_at = Some(format!("array `{x_key}`"));
    let (x, x_shape) = {
        let npy = npz_array(&mut archive, x_key, path)?;
        read_array(npy, path, &x_at)?
    };
    let y_at = Some(format!("array `{y_key}`"));
    let (y, y_shape) = {
        let npy = npz_array(&mut archive, y_key, path)?;
        let shape = checked_shape(&npy, path, &y_at)?;
        (read_f64(npy, path, &y_at)?, shape)
    };

    let n = x_shape.first().copied().unwrap_or(1);
    let sample_shape = match x_shape.len() {
        0 | 1 => vec![1],
        _ => x_shape[1..].to_vec(),
    };
    let y_ok = matches!(y_shape.as_slice(), [m] | [m, 1] if *m == n);
    if !y_ok {
        return Err(Error::format(
            path,
            y_at,
            format!(
                "labels have shape {y_shape:?} but `{x_key}` holds {n} samples (shape {x_shape:?}); \
                 expected shape [{n}]"
            ),
        ));
    }
    let width = x.len() / n.max(1);
    if let Some(i) = first_non_finite(&x) {
        return Err(Error::format(
            path,
            x_at,
            format!(
                "sample {} holds {} (value {} of the array); NaN and infinite values cannot be \
                 trained on, fix or drop that sample",
                i / width.max(1),
                x[i],
                i
            ),
        ));
    }
    let mut labels = Vec::with_capacity(y.len());
    for (i, &v) in y.iter().enumerate() {
        if !(v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX)) {
            return Err(Error::format(
                path,
                y_at,
                format!("label {v} at index {i} is not a non-negative whole number"),
            ));
        }
        labels.push(v as u32);
    }
    let num_classes = match labels
        .iter()
        .enumerate()
        .max_by_key(|&(i, &l)| (l, Reverse(i)))
    {
        None => 1,
        Some((i, &m)) => {
            let k = m as usize + 1;
            if let Some(problem) = Limits::current()?.inferred_classes_problem(k, labels.len()) {
                return Err(Error::format(
                    path,
                    y_at,
                    format!(
                        "label {m} at index {i} {problem}; if the labels are right, set {}={k}",
                        super::limits::MAX_CLASSES_ENV
                    ),
                ));
            }
            k
        }
    };
    Dataset::new(name, sample_shape, x, labels, num_classes)
}

/// Writes a labelled dataset as an `.npz` archive readable by [`load_npz`] and numpy: samples
/// `x` (f32, shape `x_shape`) under `x_key`, labels (i64) under `y_key`. The file appears
/// atomically (written beside it, then renamed).
///
/// # Errors
/// [`Error::Spec`] when `x` does not have `x_shape`'s size or the sample count differs from
/// the number of labels; [`Error::Io`] on a file system failure.
pub fn save_npz(
    path: &Path,
    x: &[f32],
    x_shape: &[usize],
    y: &[u32],
    (x_key, y_key): (&str, &str),
) -> Result<()> {
    use npyz::WriterBuilder;
    if x_shape.iter().product::<usize>() != x.len() || x_shape.first() != Some(&y.len()) {
        return Err(Error::Spec(format!(
            "cannot write {}: {} values of shape {x_shape:?} for {} labels",
            path.display(),
            x.len(),
            y.len()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("create", dir, e))?;
    let io = |e: std::io::Error| Error::io("write", path, e);
    {
        let file = tmp.as_file().try_clone().map_err(io)?;
        let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(file));
        let shape: Vec<u64> = x_shape.iter().map(|&d| d as u64).collect();
        let mut w = npz
            .array::<f32>(x_key, Default::default())
            .map_err(io)?
            .default_dtype()
            .shape(&shape)
            .begin_nd()
            .map_err(io)?;
        w.extend(x.iter().copied()).map_err(io)?;
        w.finish().map_err(io)?;
        let mut w = npz
            .array::<i64>(y_key, Default::default())
            .map_err(io)?
            .default_dtype()
            .shape(&[y.len() as u64])
            .begin_nd()
            .map_err(io)?;
        w.extend(y.iter().map(|&l| l as i64)).map_err(io)?;
        w.finish().map_err(io)?;
        npz.zip_writer()
            .finish()
            .map_err(|e| io(std::io::Error::other(e)))?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    fn write_npy<T: npyz::AutoSerialize + Copy>(
        path: &Path,
        shape: &[u64],
        data: &[T],
        fortran: bool,
    ) {
        let f = std::fs::File::create(path).unwrap();
        let order = if fortran {
            npyz::Order::Fortran
        } else {
            npyz::Order::C
        };
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(f)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn npy_dtypes_convert_to_f32() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy(&p, &[2, 3], &[0u8, 1, 2, 3, 4, 255], false);
        assert_eq!(
            load_npy(&p).unwrap(),
            (vec![0., 1., 2., 3., 4., 255.], vec![2, 3])
        );
        write_npy(&p, &[3], &[-5i64, 0, 7], false);
        assert_eq!(load_npy(&p).unwrap(), (vec![-5., 0., 7.], vec![3]));
        write_npy(&p, &[2], &[0.25f64, -1.5], false);
        assert_eq!(load_npy(&p).unwrap(), (vec![0.25, -1.5], vec![2]));
        write_npy(&p, &[2], &[true, false], false);
        assert_eq!(load_npy(&p).unwrap().0, vec![1., 0.]);
    }

    #[test]
    fn big_endian_floats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("be.npy");
        let f = std::fs::File::create(&p).unwrap();
        let dtype = DType::Plain(">f4".parse().unwrap());
        let mut w = npyz::WriteOptions::<f32>::new()
            .dtype(dtype)
            .shape(&[2])
            .writer(f)
            .begin_nd()
            .unwrap();
        w.extend([1.5f32, -2.0]).unwrap();
        w.finish().unwrap();
        assert_eq!(load_npy(&p).unwrap().0, vec![1.5, -2.0]);
    }

    #[test]
    fn fortran_order_is_transposed_to_c() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.npy");
        // The C-order array [[0,1,2],[3,4,5]] stored column-major.
        write_npy(&p, &[2, 3], &[0f32, 3., 1., 4., 2., 5.], true);
        assert_eq!(
            load_npy(&p).unwrap(),
            (vec![0., 1., 2., 3., 4., 5.], vec![2, 3])
        );
        // Three axes: element (i,j,k) = 100i + 10j + k.
        let shape = [2usize, 3, 4];
        let mut fort = Vec::new();
        for k in 0..4 {
            for j in 0..3 {
                for i in 0..2 {
                    fort.push((100 * i + 10 * j + k) as f32);
                }
            }
        }
        let c: Vec<f32> = (0..2)
            .flat_map(|i| {
                (0..3).flat_map(move |j| (0..4).map(move |k| (100 * i + 10 * j + k) as f32))
            })
            .collect();
        assert_eq!(fortran_to_c(fort, &shape), c);
    }

    #[test]
    fn bad_npy_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.npy");
        std::fs::write(&p, b"not numpy at all").unwrap();
        let e = load_npy(&p).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e:?}");
        // Truncated data.
        write_npy(&p, &[4], &[1f32, 2., 3., 4.], false);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 6]).unwrap();
        let msg = load_npy(&p).unwrap_err().to_string();
        assert!(msg.contains("truncated"), "{msg}");
        assert!(matches!(
            load_npy(dir.path().join("none.npy")),
            Err(Error::Io { .. })
        ));
    }

    fn write_npz(path: &Path, x: &[f32], x_shape: &[u64], y: &[i64]) {
        let mut npz = npyz::npz::NpzWriter::create(path).unwrap();
        let mut w = npz
            .array::<f32>("x", Default::default())
            .unwrap()
            .default_dtype()
            .shape(x_shape)
            .begin_nd()
            .unwrap();
        w.extend(x.iter().copied()).unwrap();
        w.finish().unwrap();
        let mut w = npz
            .array::<i64>("y", Default::default())
            .unwrap()
            .default_dtype()
            .shape(&[y.len() as u64])
            .begin_nd()
            .unwrap();
        w.extend(y.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn npz_nan_stray_label_and_huge_header_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npz");
        write_npz(&p, &[0., 1., 2., f32::NAN, 4., 5.], &[3, 2], &[0, 1, 0]);
        let msg = load_npz(&p, "x", "y", "d").unwrap_err().to_string();
        assert!(
            msg.contains("array `x`") && msg.contains("sample 1 holds NaN (value 3"),
            "{msg}"
        );
        let y: Vec<i64> = (0..50).map(|i| if i == 7 { 1000 } else { i % 3 }).collect();
        write_npz(&p, &[0.; 50], &[50, 1], &y);
        let msg = load_npz(&p, "x", "y", "d").unwrap_err().to_string();
        assert!(
            msg.contains("label 1000 at index 7 makes 1001 classes for 50 samples"),
            "{msg}"
        );
        // A header that claims 2^40 values is refused before reading allocates for it.
        let q = dir.path().join("big.npy");
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }";
        let mut header = format!("{dict:<117}\n").into_bytes();
        header.splice(0..0, *b"\x93NUMPY\x01\x00\x76\x00");
        header.extend_from_slice(&[0; 16]);
        std::fs::write(&q, &header).unwrap();
        let e = load_npy(&q).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("1099511627776 values"), "{e}");
    }

    #[test]
    fn saved_npz_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/features.npz");
        let x = [0.5f32, -1.0, 2.0, 3.0, 4.0, 5.0];
        save_npz(&p, &x, &[3, 2], &[2, 0, 1], ("x", "y")).unwrap();
        let ds = load_npz(&p, "x", "y", "f").unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.sample_shape, vec![2]);
        assert_eq!(ds.y, vec![2, 0, 1]);
        assert!(save_npz(&p, &x, &[4, 2], &[0; 4], ("x", "y")).is_err());
    }

    #[test]
    fn npz_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npz");
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        write_npz(&p, &x, &[3, 2, 2], &[2, 0, 1]);
        let ds = load_npz(&p, "x", "y.npy", "d/train").unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.sample_shape, vec![2, 2]);
        assert_eq!(ds.sample(1), &[4., 5., 6., 7.]);
        assert_eq!(ds.y, vec![2, 0, 1]);
        assert_eq!(ds.num_classes, 3);
    }

    #[test]
    fn npz_errors_name_the_array() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npz");
        write_npz(&p, &[0.; 6], &[3, 2], &[0, 1]);
        let msg = load_npz(&p, "x", "y", "d").unwrap_err().to_string();
        assert!(
            msg.contains("array `y`") && msg.contains("holds 3 samples"),
            "{msg}"
        );
        let msg = load_npz(&p, "images", "y", "d").unwrap_err().to_string();
        assert!(msg.contains("the archive holds [x, y]"), "{msg}");
        write_npz(&p, &[0.; 2], &[2, 1], &[0, -1]);
        let msg = load_npz(&p, "x", "y", "d").unwrap_err().to_string();
        assert!(msg.contains("label -1 at index 1"), "{msg}");
        std::fs::write(&p, b"PK junk").unwrap();
        assert!(matches!(
            load_npz(&p, "x", "y", "d"),
            Err(Error::Format { .. })
        ));
    }
}
