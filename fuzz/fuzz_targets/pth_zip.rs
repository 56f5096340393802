//! Raw bytes into the PyTorch checkpoint reader, seeded with zip-format files: the zip
//! container (central directory, members, byteorder) as much as the pickle inside.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tlkit::weights::load_pth_bytes(data, std::path::Path::new("fuzz.pth"));
});
