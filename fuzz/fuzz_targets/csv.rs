//! Raw bytes written to a file, into `load_csv`; the first byte picks the options (label
//! column, header, declared classes, sample shape), the rest is the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tlkit::data::CsvOptions;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("tlkit-fuzz-{}.csv", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let path = scratch();
    std::fs::write(path, text).unwrap();
    let opts = CsvOptions {
        label_column: match pick & 3 {
            0 => None,
            1 => Some(0),
            2 => Some(-1),
            _ => Some(isize::from(pick as i8 >> 2)),
        },
        has_header: pick & 4 != 0,
        scale: if pick & 8 != 0 { 1.0 / 16.0 } else { 1.0 },
        sample_shape: (pick & 16 != 0).then(|| vec![1, 2, 2]),
        num_classes: (pick & 32 != 0).then_some(usize::from(pick >> 6) * 5),
    };
    let _ = tlkit::data::load_csv(path, &opts, "fuzz");
});
