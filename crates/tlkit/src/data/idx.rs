//! IDX files, the format of MNIST and Fashion-MNIST (LeCun et al., "Gradient-based learning
//! applied to document recognition", Proc. IEEE 1998; format described at the MNIST page).
//!
//! An IDX file is a big-endian header `00 00 <type> <ndims>`, `ndims` 32-bit sizes, then the
//! values in C order. Only unsigned bytes (type `08`) occur in the image datasets and only
//! those are read. Files may be raw or gzipped; gzip is detected by its magic `1f 8b`, not by
//! the file name.

use std::path::Path;

use super::dataset::Dataset;
use super::util::read_maybe_gz;
use crate::{Error, Result};

/// IDX type code of unsigned bytes.
const UBYTE: u8 = 0x08;

/// Number of classes of the IDX datasets tlkit reads (MNIST, Fashion-MNIST).
const IDX_CLASSES: usize = 10;

/// A parsed IDX header: the dimension sizes and where the values start.
struct Header {
    dims: Vec<usize>,
    data_start: usize,
}

/// Checks the magic and the byte counts of an IDX file of `ndims` dimensions (`what` names the
/// expected content in errors) and returns its dimension sizes.
fn parse_header(bytes: &[u8], path: &Path, ndims: u8, what: &str) -> Result<Header> {
    let expected_magic = [0, 0, UBYTE, ndims];
    if bytes.len() < 4 {
        return Err(Error::format(
            path,
            Some("byte 0".into()),
            format!(
                "truncated: the file has {} bytes, an IDX header needs at least 4; \
                 the file is damaged, fetch or copy it again",
                bytes.len()
            ),
        ));
    }
    if bytes[..4] != expected_magic {
        return Err(Error::format(
            path,
            Some("byte 0".into()),
            format!(
                "bad magic {:02x} {:02x} {:02x} {:02x}: expected {:02x} {:02x} {:02x} {:02x} \
                 ({what}); is this the right file (images vs labels) and an IDX file at all?",
                bytes[0],
                bytes[1],
                bytes[2],
                bytes[3],
                expected_magic[0],
                expected_magic[1],
                expected_magic[2],
                expected_magic[3],
            ),
        ));
    }
    let data_start = 4 + 4 * ndims as usize;
    if bytes.len() < data_start {
        return Err(Error::format(
            path,
            Some("byte 4".into()),
            format!(
                "truncated header: expected {data_start} header bytes, {} present; \
                 the file is damaged, fetch or copy it again",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims as usize)
        .map(|d| {
            let at = 4 + 4 * d;
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        })
        .collect();
    let values = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|v| v.checked_add(data_start))
        .ok_or_else(|| {
            Error::format(
                path,
                Some("byte 4".into()),
                format!("dimensions {dims:?} are too large to be real; the header is corrupt"),
            )
        })?;
    if bytes.len() != values {
        let kind = if bytes.len() < values {
            "truncated"
        } else {
            "too long"
        };
        return Err(Error::format(
            path,
            Some(format!("byte {}", bytes.len().min(values))),
            format!(
                "{kind}: a header of dimensions {dims:?} needs {values} bytes \
                 ({data_start} header + {} values), {} present (after decompression); \
                 the file is damaged, fetch or copy it again",
                values - data_start,
                bytes.len()
            ),
        ));
    }
    Ok(Header { dims, data_start })
}

/// Reads an IDX3 unsigned-byte image file (raw or gzipped).
///
/// Returns the pixels (`n * rows * cols` bytes, image after image, row-major), `n`, `rows` and
/// `cols`.
pub fn load_images(path: impl AsRef<Path>) -> Result<(Vec<u8>, usize, usize, usize)> {
    let path = path.as_ref();
    let mut bytes = read_maybe_gz(path)?;
    let h = parse_header(&bytes, path, 3, "IDX3 unsigned-byte images")?;
    bytes.drain(..h.data_start);
    Ok((bytes, h.dims[0], h.dims[1], h.dims[2]))
}

/// Reads an IDX1 unsigned-byte label file (raw or gzipped).
pub fn load_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let mut bytes = read_maybe_gz(path)?;
    let h = parse_header(&bytes, path, 1, "IDX1 unsigned-byte labels")?;
    bytes.drain(..h.data_start);
    Ok(bytes)
}

/// Loads an image file and its label file as one dataset named `name`.
///
/// Pixels are scaled by 1/255 to `[0, 1]`; samples have shape `[1, rows, cols]`; there are
/// 10 classes. The label count must equal the image count and every label must be below 10.
pub fn load_pair(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    name: &str,
) -> Result<Dataset> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let (pixels, n, rows, cols) = load_images(images)?;
    super::limits::Limits::current()?.values(&[n, rows, cols], || {
        format!("{}: images as f32", images.display())
    })?;
    let y = load_labels(labels)?;
    if y.len() != n {
        return Err(Error::format(
            labels,
            None,
            format!(
                "{} labels but the image file {} holds {n} images; \
                 the two files must come from the same split (train with train, t10k with t10k)",
                y.len(),
                images.display()
            ),
        ));
    }
    if let Some(i) = y.iter().position(|&l| l as usize >= IDX_CLASSES) {
        return Err(Error::format(
            labels,
            Some(format!("byte {}", 8 + i)),
            format!(
                "label {} of sample {i} is outside 0..={}",
                y[i],
                IDX_CLASSES - 1
            ),
        ));
    }
    let x = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let y = y.into_iter().map(u32::from).collect();
    Dataset::new(name, vec![1, rows, cols], x, y, IDX_CLASSES)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Bytes of an IDX3 image file holding `n` images of `rows`×`cols`, pixel `k` = `k % 256`.
    pub(crate) fn idx3(n: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, rows, cols] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend((0..n * rows * cols).map(|k| (k % 256) as u8));
        b
    }

    /// Bytes of an IDX1 label file.
    pub(crate) fn idx1(labels: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 1];
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn format_msg(e: Error) -> String {
        assert!(
            matches!(e, Error::Format { .. }),
            "expected a format error, got {e:?}"
        );
        e.to_string()
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let img = write(dir.path(), "img", &idx3(3, 2, 4));
        let lab = write(dir.path(), "lab.gz", &gz(&idx1(&[7, 0, 9])));
        let (px, n, r, c) = load_images(&img).unwrap();
        assert_eq!((n, r, c), (3, 2, 4));
        assert_eq!(px, (0..24).collect::<Vec<u8>>());
        let ds = load_pair(&img, &lab, "toy/train").unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.sample_shape, vec![1, 2, 4]);
        assert_eq!(ds.y, vec![7, 0, 9]);
        assert_eq!(ds.num_classes, 10);
        assert_eq!(ds.sample(2)[7], 23.0 / 255.0);
        // gzip detection is by content, not by name.
        let img_gz = write(dir.path(), "img.raw", &gz(&idx3(3, 2, 4)));
        assert_eq!(load_images(&img_gz).unwrap().0, px);
    }

    #[test]
    fn truncated_images_say_expected_and_present_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = idx3(2, 3, 3);
        b.truncate(b.len() - 5);
        let p = write(dir.path(), "short.gz", &gz(&b));
        let msg = format_msg(load_images(&p).unwrap_err());
        assert!(msg.contains("truncated"), "{msg}");
        assert!(msg.contains("needs 34 bytes"), "{msg}");
        assert!(msg.contains("29 present"), "{msg}");
        assert!(msg.contains("short.gz"), "{msg}");
    }

    #[test]
    fn truncated_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "h", &[0, 0, 8, 3, 0, 0]);
        let msg = format_msg(load_images(&p).unwrap_err());
        assert!(msg.contains("expected 16 header bytes, 6 present"), "{msg}");
    }

    #[test]
    fn truncated_gzip_stream_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = gz(&idx3(4, 8, 8));
        b.truncate(b.len() / 2);
        let p = write(dir.path(), "cut.gz", &b);
        let msg = format_msg(load_images(&p).unwrap_err());
        assert!(msg.contains("does not decompress"), "{msg}");
    }

    #[test]
    fn wrong_magic_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A label file given where images are expected.
        let p = write(dir.path(), "labels", &idx1(&[1, 2]));
        let msg = format_msg(load_images(&p).unwrap_err());
        assert!(msg.contains("bad magic 00 00 08 01"), "{msg}");
        assert!(msg.contains("expected 00 00 08 03"), "{msg}");
        let p = write(dir.path(), "png", b"\x89PNG\r\n\x1a\n....");
        assert!(format_msg(load_labels(&p).unwrap_err()).contains("bad magic 89 50 4e 47"));
    }

    #[test]
    fn label_count_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let img = write(dir.path(), "img", &idx3(3, 2, 2));
        let lab = write(dir.path(), "lab", &idx1(&[1, 2]));
        let msg = format_msg(load_pair(&img, &lab, "x").unwrap_err());
        assert!(msg.contains("2 labels"), "{msg}");
        assert!(msg.contains("holds 3 images"), "{msg}");
    }

    #[test]
    fn label_out_of_range_names_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let img = write(dir.path(), "img", &idx3(2, 1, 1));
        let lab = write(dir.path(), "lab", &idx1(&[1, 12]));
        let e = load_pair(&img, &lab, "x").unwrap_err();
        assert!(
            matches!(&e, Error::Format { at: Some(a), .. } if a == "byte 9"),
            "{e:?}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let e = load_labels("/nonexistent/tlkit/labels.gz").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("/nonexistent/tlkit/labels.gz"));
    }
}
