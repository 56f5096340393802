#!/bin/sh
# Builds the fuzz targets with libFuzzer's coverage instrumentation on a stable toolchain,
# without cargo-fuzz: what `cargo fuzz build` passes (sanitizer coverage, `--cfg fuzzing`),
# overflow checks and debug assertions on, no ASan. Binaries land in
# fuzz/target/x86_64-unknown-linux-gnu/debug/<target>.
set -e
cd "$(dirname "$0")"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_PROFILE_DEV_OPT_LEVEL=1 CARGO_PROFILE_DEV_DEBUG=0
exec cargo build --target x86_64-unknown-linux-gnu --bins "$@"
