//! Raw bytes into `load_onnx_bytes`, the ONNX importer behind `--model model.onnx`: protobuf
//! parsing, graph import into a network spec, and initializers read as weights.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tlkit::weights::onnx::load_onnx_bytes(data, Path::new("fuzz.onnx"));
});
