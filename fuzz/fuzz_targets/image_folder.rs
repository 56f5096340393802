//! Raw bytes as the one image of a one-class image folder (`root/a/x.png`), into
//! `load_image_folder` (as it is and resized) and `load_image`, as `train` and `predict` read
//! user images. The format is sniffed from the content, so JPEG inputs reach the JPEG decoder.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tlkit::data::ImageFolderOptions;

fn root() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("tlkit-fuzz-{}-images", std::process::id()));
        std::fs::create_dir_all(root.join("a")).unwrap();
        root
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    let file = root.join("a/x.png");
    std::fs::write(&file, data).unwrap();
    let _ = tlkit::data::load_image_folder(root, &ImageFolderOptions::default(), "fuzz");
    let resized = ImageFolderOptions {
        size: Some((5, 7)),
        grayscale: true,
    };
    let _ = tlkit::data::load_image_folder(root, &resized, "fuzz");
    let _ = tlkit::data::load_image(&file, 8, 8, false);
});
