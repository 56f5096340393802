//! A folder of images with one sub-folder per class (torchvision's `ImageFolder` layout):
//! `root/<class>/<image>.png|jpg|jpeg`. Class names are the sub-folder names in sorted order;
//! images are read in sorted file-name order, so a folder always loads the same way.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::dataset::Dataset;
use super::transform::LUMA_601;
use crate::{Error, Result};

/// How to read an image folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFolderOptions {
    /// Resize every image to `(height, width)` with the image crate's triangle (bilinear)
    /// filter, which averages when shrinking (like PIL's `BILINEAR`). `None` keeps the sizes,
    /// which must then all be equal.
    pub size: Option<(usize, usize)>,
    /// Convert to one channel with ITU-R BT.601 luma (`0.299 R + 0.587 G + 0.114 B`), the same
    /// weights as [`crate::data::transform::to_grayscale`]; otherwise three RGB channels.
    pub grayscale: bool,
}

/// File extensions read as images (case-insensitive); other files are ignored.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("list folder", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("list folder", dir, e))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Loads `root` as a dataset named `name`: each sub-folder is a class, each PNG/JPEG in it a
/// sample in CHW order with values in `[0, 1]` (alpha dropped).
///
/// # Shapes
/// Samples are `[3, H, W]`, or `[1, H, W]` with `grayscale`, where `(H, W)` is `size` or the
/// common size of the images.
pub fn load_image_folder(
    root: impl AsRef<Path>,
    opts: &ImageFolderOptions,
    name: &str,
) -> Result<Dataset> {
    let root = root.as_ref();
    if let Some((h, w)) = opts.size
        && (h == 0 || w == 0)
    {
        return Err(Error::Spec(format!(
            "image folder {}: size ({h}, {w}) must be positive",
            root.display()
        )));
    }
    let classes: Vec<PathBuf> = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if classes.is_empty() {
        return Err(Error::Path(format!(
            "image folder {} has no class sub-folders; expected root/<class>/<image>.png",
            root.display()
        )));
    }

    let mut class_names = Vec::with_capacity(classes.len());
    let mut x = Vec::new();
    let mut y = Vec::new();
    // The first image's path and size, against which the others are checked.
    let mut first: Option<(PathBuf, u32, u32)> = None;
    for (label, dir) in classes.iter().enumerate() {
        class_names.push(
            dir.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
        let files: Vec<PathBuf> = sorted_entries(dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            return Err(Error::Path(format!(
                "class folder {} holds no PNG or JPEG images; remove it or add images",
                dir.display()
            )));
        }
        for file in files {
            let mut rgb = decode(&file)?;
            match opts.size {
                Some((h, w)) => {
                    if (rgb.height() as usize, rgb.width() as usize) != (h, w) {
                        rgb =
                            image::imageops::resize(&rgb, w as u32, h as u32, FilterType::Triangle);
                    }
                }
                None => match &first {
                    None => first = Some((file.clone(), rgb.width(), rgb.height())),
                    Some((f0, w0, h0)) if (rgb.width(), rgb.height()) != (*w0, *h0) => {
                        return Err(Error::format(
                            &file,
                            None,
                            format!(
                                "image is {}x{} (width x height) but {} is {w0}x{h0}; \
                                 set `size` to resize all images to one size",
                                rgb.width(),
                                rgb.height(),
                                f0.display()
                            ),
                        ));
                    }
                    Some(_) => {}
                },
            }
            push_chw(&rgb, opts.grayscale, &mut x);
            y.push(label as u32);
        }
    }

    let (h, w) = match (opts.size, &first) {
        (Some(s), _) => s,
        (None, Some((_, w, h))) => (*h as usize, *w as usize),
        (None, None) => (0, 0),
    };
    let channels = if opts.grayscale { 1 } else { 3 };
    let mut ds = Dataset::new(name, vec![channels, h, w], x, y, classes.len())?;
    ds.class_names = Some(class_names);
    Ok(ds)
}

/// An image file as RGB values in 0..1.
fn decode(file: &Path) -> Result<image::Rgb32FImage> {
    let img = image::ImageReader::open(file)
        .map_err(|e| Error::io("open", file, e))?
        .with_guessed_format()
        .map_err(|e| Error::io("read", file, e))?
        .decode()
        .map_err(|e| Error::format(file, None, format!("cannot decode the image: {e}")))?;
    Ok(img.to_rgb32f())
}

/// One image file as a sample the way [`load_image_folder`] reads it: resized to `h`×`w`
/// (triangle filter), values in 0..1, CHW order, RGB or (with `grayscale`) its BT.601 luma.
pub fn load_image(file: &Path, h: usize, w: usize, grayscale: bool) -> Result<Vec<f32>> {
    let mut rgb = decode(file)?;
    if (rgb.height() as usize, rgb.width() as usize) != (h, w) {
        rgb = image::imageops::resize(&rgb, w as u32, h as u32, FilterType::Triangle);
    }
    let mut out = Vec::with_capacity(h * w * if grayscale { 1 } else { 3 });
    push_chw(&rgb, grayscale, &mut out);
    Ok(out)
}

/// Appends an RGB image in CHW order, or its BT.601 luma.
fn push_chw(rgb: &image::Rgb32FImage, grayscale: bool, out: &mut Vec<f32>) {
    let clamp = |v: f32| v.clamp(0.0, 1.0);
    if grayscale {
        out.extend(
            rgb.pixels()
                .map(|p| clamp(LUMA_601[0] * p.0[0] + LUMA_601[1] * p.0[1] + LUMA_601[2] * p.0[2])),
        );
    } else {
        for c in 0..3 {
            out.extend(rgb.pixels().map(|p| clamp(p.0[c])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
            .save(path)
            .unwrap();
    }

    #[test]
    fn classes_are_sorted_folders_and_samples_are_chw() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        png(&r.join("dog/b.png"), 3, 2, [0, 255, 0]);
        png(&r.join("cat/a.png"), 3, 2, [255, 0, 51]);
        png(&r.join("dog/a.PNG"), 3, 2, [0, 0, 255]);
        std::fs::write(r.join("dog/notes.txt"), "ignored").unwrap();
        let ds = load_image_folder(r, &ImageFolderOptions::default(), "pets").unwrap();
        assert_eq!(
            ds.class_names.as_deref(),
            Some(&["cat".to_string(), "dog".to_string()][..])
        );
        assert_eq!(ds.y, vec![0, 1, 1]);
        assert_eq!(ds.sample_shape, vec![3, 2, 3]);
        let s = ds.sample(0);
        assert_eq!(&s[..6], &[1.0; 6]);
        assert_eq!(&s[6..12], &[0.0; 6]);
        assert!((s[12] - 0.2).abs() < 1e-6);
        // dog/a.PNG sorts before dog/b.png: blue first.
        assert_eq!(ds.sample(1)[12], 1.0);
        assert_eq!(ds.sample(2)[6], 1.0);
    }

    #[test]
    fn grayscale_and_resize() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        png(&r.join("a/1.png"), 4, 4, [255, 0, 0]);
        png(&r.join("b/1.png"), 6, 2, [0, 255, 0]);
        let opts = ImageFolderOptions {
            size: Some((2, 3)),
            grayscale: true,
        };
        let ds = load_image_folder(r, &opts, "g").unwrap();
        assert_eq!(ds.sample_shape, vec![1, 2, 3]);
        assert!(ds.sample(0).iter().all(|&v| (v - 0.299).abs() < 1e-5));
        assert!(ds.sample(1).iter().all(|&v| (v - 0.587).abs() < 1e-5));
    }

    #[test]
    fn mixed_sizes_without_size_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        png(&r.join("a/1.png"), 4, 4, [1, 2, 3]);
        png(&r.join("b/odd.png"), 5, 4, [1, 2, 3]);
        let e = load_image_folder(r, &ImageFolderOptions::default(), "m").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Format { .. }), "{e:?}");
        assert!(
            msg.contains("odd.png") && msg.contains("5x4") && msg.contains("set `size`"),
            "{msg}"
        );
    }

    #[test]
    fn bad_folders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let opts = ImageFolderOptions::default();
        assert!(matches!(
            load_image_folder(r, &opts, "e"),
            Err(Error::Path(_))
        ));
        std::fs::create_dir(r.join("empty")).unwrap();
        let msg = load_image_folder(r, &opts, "e").unwrap_err().to_string();
        assert!(
            msg.contains("empty") && msg.contains("no PNG or JPEG"),
            "{msg}"
        );
        std::fs::write(r.join("empty/broken.png"), b"not a png").unwrap();
        let e = load_image_folder(r, &opts, "e").unwrap_err();
        assert!(
            matches!(&e, Error::Format { path, .. } if path.ends_with("broken.png")),
            "{e:?}"
        );
        assert!(matches!(
            load_image_folder(r.join("missing"), &opts, "e"),
            Err(Error::Io { .. })
        ));
    }
}
