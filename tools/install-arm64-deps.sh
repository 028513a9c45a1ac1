#!/usr/bin/env bash
# Installs what the arm64 (Raspberry Pi) cross build needs on Debian 12 (bookworm): the
# aarch64 cross toolchain, qemu-user-static to run the tests, and the :arm64 -dev packages of the
# pure core (meson.build with -Dpacket_plane=disabled) and of the BPF loaders. Not DPDK: libdpdk-dev:arm64 needs
# libfdt-dev:arm64 and rdma-core:arm64, which are not Multi-Arch: same and would replace the amd64
# packages the x86 build needs (docs/raspberry-pi.md). Idempotent and non-interactive, like
# install-deps.sh, which it assumes ran.
set -euo pipefail

host_packages=(crossbuild-essential-arm64 qemu-user-static binfmt-support)
# pkgconf:arm64 (Multi-Arch: same, beside the amd64 one) is what ships the cross file's
# aarch64-linux-gnu-pkg-config; the amd64 pkgconf alone has only the x86_64 one.
arm64_packages=(
  pkgconf
  libc6-dev linux-libc-dev libstdc++-12-dev
  libabsl-dev libspdlog-dev libfmt-dev libssl-dev libtomlplusplus-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libbpf-dev libxdp-dev libelf-dev zlib1g-dev
)

if [[ $EUID -ne 0 ]]; then
  sudo=sudo
else
  sudo=
fi

missing=()
for p in "${host_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
for p in "${arm64_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p:arm64")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
echo "install-arm64-deps: installing ${missing[*]}"
$sudo apt-get update -qq
# Every -dev package here is Multi-Arch: same, so the :arm64 copies sit beside the amd64 ones;
# refuse anything that would remove a package instead (a version skew between the two arches).
plan=$($sudo apt-get install -s -y --no-install-recommends "${missing[@]}")
if grep -q '^Remv ' <<<"$plan"; then
  grep '^Remv ' <<<"$plan" >&2
  echo "install-arm64-deps: refusing: installing the arm64 packages would remove the above" >&2
  exit 1
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
