#!/usr/bin/env bash
# Builds Scry (release) and runs the node agent on this machine, in the
# foreground, as root. Extra arguments go to `scry agent` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/agent.sh: the agent loads BPF programs and must run as root (try: sudo $0)" >&2
  exit 1
fi
scripts/setup.sh
cargo build --release --bin scry
exec target/release/scry agent "$@"
