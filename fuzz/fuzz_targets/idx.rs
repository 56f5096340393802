//! Raw bytes written to a file, read as IDX images, as IDX labels, and as both files of a
//! pair (the label count then never matches unless the header says so), plain or gzipped.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("tlkit-fuzz-{}.idx", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).unwrap();
    let _ = tlkit::data::load_images(path);
    let _ = tlkit::data::load_labels(path);
    let _ = tlkit::data::load_pair(path, path, "fuzz");
});
