#!/usr/bin/env bash
# Runs every test: unit tests, and end-to-end tests that load BPF programs on
# the real kernel (as root). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: the kernel tests load BPF programs and must run as root (try: sudo $0)" >&2
  exit 1
fi
scripts/setup.sh
# The end-to-end tests run the real `scry` binary.
cargo build --workspace --bins
cargo test --workspace
