//! The input is `data.pkl` of a well-formed zip checkpoint whose storages `0`..`9` hold 256
//! bytes each. Raw zip fuzzing mostly trips over CRC checks; this reaches the pickle VM, the
//! tensor rebuilding (offsets, strides, dtypes) and the storage bounds checks directly.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use zip::write::SimpleFileOptions;

fn archive(pickle: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut add = |name: &str, bytes: &[u8]| {
        z.start_file(name, opts).unwrap();
        z.write_all(bytes).unwrap();
    };
    add("archive/data.pkl", pickle);
    add("archive/byteorder", b"little");
    for key in 0..10u8 {
        let data: Vec<u8> = (0..=255u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(key))
            .collect();
        add(&format!("archive/data/{key}"), &data);
    }
    z.finish().unwrap().into_inner()
}

fuzz_target!(|data: &[u8]| {
    let bytes = archive(data);
    let _ = tlkit::weights::load_pth_bytes(&bytes, std::path::Path::new("fuzz.pth"));
});
