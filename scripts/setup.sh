#!/usr/bin/env bash
# Installs what building and testing Scry needs on Debian, when missing:
# clang-19 (compiles the BPF C), libelf/zlib (static, linked into libbpf),
# pkg-config, the programs the tests run, and what the kernel matrix
# (vmtests/run) boots its guests with: qemu, busybox, cpio, jq. Idempotent;
# run as root.
set -euo pipefail

packages=(clang-19 libelf-dev zlib1g-dev pkg-config make iproute2 iputils-ping curl python3 redis-server redis-tools dnsmasq-base bind9-dnsutils
  nginx-light postgresql postgresql-client python3-psycopg mariadb-server mariadb-client libdbd-mariadb-perl wrk nftables prometheus iperf3
  qemu-system-x86 busybox-static cpio jq)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The tests start their own servers (nginx, PostgreSQL, MariaDB, Redis,
  # dnsmasq) in network namespaces: the packages must not start system
  # services (there may be no init to start them with, either).
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((own_policy)); then rm -f "$policy"; fi
fi

# Tracepoints are attached through tracefs; the agent mounts it too when run.
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi
