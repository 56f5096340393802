//! Raw bytes written to a file, into `load_npz` (arrays `x` and `y`) and `load_npy`, as a
//! user's NumPy file would arrive.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("tlkit-fuzz-{}.npz", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).unwrap();
    let _ = tlkit::data::load_npz(path, "x", "y", "fuzz");
    let _ = tlkit::data::load_npy(path);
});
