#!/usr/bin/env bash
# The systemd units as installed: `meson install` into a scratch root, then systemd-analyze
# checks their syntax and that every command they run exists and is executable there.
#   systemd_units_test.sh BUILD_DIR
set -euo pipefail
build=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
# What the units rely on from the OS: systemd's own targets and kill(1).
mkdir -p "$root/usr/lib/systemd" "$root/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$(type -P kill)" "$root/bin/kill"
units=("$root"/usr/local/lib/systemd/system/dmrswitch-dp.service
       "$root"/usr/local/lib/systemd/system/dmrswitch-cp.service)
for u in "${units[@]}"; do
  [[ -f $u ]] || { echo "not installed: $u"; exit 1; }
done
[[ -x $root/usr/local/libexec/dmrswitch/hugepages.sh ]] || { echo "hugepages.sh not installed"; exit 1; }
out=$(systemd-analyze verify --man=no --root="$root" "${units[@]}" 2>&1) || { echo "$out"; exit 1; }
if [[ -n $out ]]; then
  echo "$out"
  exit 1
fi
grep -q '^BindsTo=dmrswitch-dp.service' "${units[1]}"
grep -q '^RestartPreventExitStatus=78' "${units[1]}"
grep -q '^SuccessExitStatus=78' "${units[1]}"
echo "systemd units verified"
