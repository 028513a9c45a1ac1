#!/usr/bin/env bash
# Installs everything dmrswitch needs to build, test and run on Debian 12 (bookworm).
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

packages=(
  # toolchain and build
  build-essential pkg-config meson ninja-build clang llvm libclang-rt-14-dev clang-format
  python3
  # packet plane
  dpdk dpdk-dev libdpdk-dev libnuma-dev libpcap-dev
  libbpf-dev libxdp-dev bpftool linux-libc-dev iproute2
  # libraries
  libabsl-dev libspdlog-dev libfmt-dev libssl-dev
  libtomlplusplus-dev nlohmann-json3-dev libcpp-httplib-dev libmosquitto-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # bench/pps_harness.py plots its run (docs/pps.png)
  python3-matplotlib
  # tests/report/openapi_check.py: the JSON API against docs/api.yaml
  python3-yaml python3-jsonschema
  # reporting tests: promtool and a real prometheus, a real MQTT broker (ctrlplane/report)
  prometheus mosquitto
  # the dashboard's test in a real browser (tests/report/dashboard_browser_test.py)
  chromium fonts-dejavu-core
  # the systemd units' test: systemd-analyze and systemd-sysusers, setpriv (util-linux), capsh,
  # strace (what the units' syscall filter would refuse)
  systemd util-linux libcap2-bin strace
  # full checksums on a veth feeding an AF_XDP socket (tests/ops/systemd_units_test.sh)
  ethtool
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  sudo=sudo
else
  sudo=
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
