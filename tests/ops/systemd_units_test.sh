#!/usr/bin/env bash
# The systemd units as installed: `meson install` into a scratch root, then systemd-analyze
# checks their syntax and that every command they run exists and is executable there. The dp's
# unit reserves hugepages only for a configuration that needs them: the installed dp answers
# --needs-hugepages for each profile, and the Raspberry Pi profile (kernel mode, hosted control
# plane) goes through the unit's own ExecStartPre command without reserving anything.
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
for u in "${units[@]}"; do
  grep -q '^Type=notify' "$u"
  grep -q '^NotifyAccess=main' "$u"
  grep -q '^WatchdogSec=' "$u"
done
grep -q '^BindsTo=dmrswitch-dp.service' "${units[1]}"

# Hugepages: asked of the dp, never reserved unconditionally.
dp=$root/usr/local/bin/dmrswitch-dp
hp=$root/usr/local/libexec/dmrswitch/hugepages.sh
pre=$(grep '^ExecStartPre=' "${units[0]}") || { echo "dp unit: no ExecStartPre"; exit 1; }
[[ $pre == "ExecStartPre=-/usr/local/libexec/dmrswitch/hugepages.sh up-if-needed 512 /usr/local/bin/dmrswitch-dp --config /etc/dmrswitch/hub.toml" ]] ||
  { echo "dp unit: unexpected hugepages step: $pre"; exit 1; }
conf=$root/profiles
mkdir -p "$conf"
profile() {  # NAME EXPECTED TOML
  printf '%s\n' "$3" >"$conf/$1.toml"
  local got
  got=$("$dp" --config "$conf/$1.toml" --needs-hugepages) || { echo "$1: dp refused: $got"; exit 1; }
  [[ $got == "$2" ]] || { echo "profile $1: --needs-hugepages says '$got', expected '$2'"; exit 1; }
}
hbp=$'[hbp]\npassphrase = "passw0rd"\n'
profile pi no $'[hub]\nmode = "kernel"\nshards = 1\ncontrol_plane = "hosted"\n'"$hbp"$'max_clients = 500\n[xdp]\ninterface = "eth0"\nattach = "generic"'
profile kernel-separate yes $'[hub]\ncontrol_plane = "separate"\n'"$hbp"
profile dpdk yes $'[hub]\nmode = "dpdk"\n'"$hbp"$'[dpdk]\neal_args = ["--no-pci"]\naddress = "198.18.0.1"'
profile dpdk-no-huge no $'[hub]\nmode = "dpdk"\n'"$hbp"$'[dpdk]\neal_args = ["--no-huge", "-m", "256"]\naddress = "198.18.0.1"'
profile afxdp yes $'[hub]\nmode = "afxdp"\nshards = 1\n'"$hbp"$'[dpdk]\naddress = "198.18.0.1"\n[xdp]\ninterface = "eth0"'
profile afxdp-no-huge no $'[hub]\nmode = "afxdp"\nshards = 1\n'"$hbp"$'[dpdk]\neal_args = ["--no-huge"]\naddress = "198.18.0.1"\n[xdp]\ninterface = "eth0"'
# The Pi profile through the unit's own step: nothing reserved, nothing mounted, no state kept.
nr_before=$(cat /proc/sys/vm/nr_hugepages)
mounts_before=$(grep -c ' hugetlbfs ' /proc/mounts || true)
state_before=$([[ -e /run/dmrswitch/hugepages.state ]] && echo yes || echo no)
out=$("$hp" up-if-needed 512 "$dp" --config "$conf/pi.toml")
[[ $out == *"not needed"* ]] || { echo "Pi profile: hugepages.sh said: $out"; exit 1; }
[[ $(cat /proc/sys/vm/nr_hugepages) == "$nr_before" ]] || { echo "Pi profile reserved hugepages"; exit 1; }
[[ $(grep -c ' hugetlbfs ' /proc/mounts || true) == "$mounts_before" ]] || { echo "Pi profile mounted hugetlbfs"; exit 1; }
[[ $([[ -e /run/dmrswitch/hugepages.state ]] && echo yes || echo no) == "$state_before" ]] ||
  { echo "Pi profile left hugepages state"; exit 1; }
# A file the dp cannot read: the step reserves nothing and does not fail the unit.
printf '[hub]\nmode = "vpp"\n' >"$conf/broken.toml"
"$hp" up-if-needed 512 "$dp" --config "$conf/broken.toml" 2>/dev/null ||
  { echo "hugepages.sh up-if-needed failed on a broken configuration"; exit 1; }
[[ $(cat /proc/sys/vm/nr_hugepages) == "$nr_before" ]] || { echo "broken configuration reserved hugepages"; exit 1; }
grep -q '^RestartPreventExitStatus=78' "${units[1]}"
grep -q '^SuccessExitStatus=78' "${units[1]}"
echo "systemd units verified"
