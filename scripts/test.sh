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
# A one-off build (CI's clean clone) gains nothing from incremental
# compilation's caches, which take gigabytes of disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
# A linker whose output file cannot grow dies of SIGBUS ("Bus error"), which
# names nothing: check the room first.
need_gib=6
avail_kib=$(df --output=avail -k . | tail -1)
if ((avail_kib < need_gib * 1024 * 1024)); then
  echo "scripts/test.sh: $((avail_kib / 1024)) MiB free on $(df --output=target . | tail -1); a build and the tests need about ${need_gib} GiB" >&2
  exit 1
fi
# The end-to-end tests run the real `scry` binary.
cargo build --workspace --bins
cargo test --workspace
vmtests/run
