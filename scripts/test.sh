#!/usr/bin/env bash
# Runs every test: unit tests, end-to-end tests that load BPF programs on the
# real kernel (as root), and the kernel matrix: the kernel tests again inside
# Debian's 6.1 and 6.12 kernels under qemu (vmtests/run, a few minutes).
# Installs what it needs first.
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
vmtests/run
