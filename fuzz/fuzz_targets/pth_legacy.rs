//! Raw bytes into the PyTorch checkpoint reader, seeded with legacy-format files: the pickle
//! VM, the magic/version/sys_info/key-list pickles and the storage table that follows them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tlkit::weights::load_pth_bytes(data, std::path::Path::new("fuzz.pth"));
});
