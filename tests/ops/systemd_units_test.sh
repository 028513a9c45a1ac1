#!/usr/bin/env bash
# The systemd units as installed: `meson install` into a scratch root, then systemd-analyze
# checks their syntax (alone and with each per-mode drop-in) and that every command they run
# exists and is executable there, and scores their sandbox. The units' steps run as the units
# would run them (this machine has no systemd as PID 1):
#  - hugepages: the installed dp answers --needs-hugepages / --hugepages for each profile, and
#    the Raspberry Pi profile goes through the unit's own ExecStartPre without reserving
#    anything;
#  - the service as an unprivileged user with exactly the unit's capabilities (setpriv: the
#    bounding, inheritable and ambient sets of the unit's CapabilityBoundingSet= and
#    AmbientCapabilities=, no new privileges): kernel mode serves a login; the XDP shield in a
#    network namespace of the test's own, with the shield drop-in's capabilities, attaches,
#    serves a login and leaves no program behind; without CAP_SYS_ADMIN it cannot replace the
#    program a killed dp left, which is why the drop-in has it; a separate cp with the cp unit's
#    capabilities attaches to a kernel-mode dp on the unit's hugepages and answers a login, and
#    both leave every page free after their stop; afxdp mode with the afxdp drop-in's
#    capabilities serves a login through its AF_XDP socket and is refused without CAP_NET_RAW;
#  - the configuration readable by the service user only: no warning; readable by every user:
#    the hub names the file and its mode.
#   systemd_units_test.sh BUILD_DIR
set -euo pipefail
build=$1
for tool in systemd-analyze setpriv strace ethtool prlimit; do
  command -v "$tool" >/dev/null || {
    echo "systemd_units: $tool not found (tools/install-deps.sh installs it)" >&2
    exit 1
  }
done
root=$(mktemp -d)
svc=$(mktemp -d)
ns=dmrsw-units-$$
client_ns=dmrsw-units-c-$$
cleanup() {
  if [[ -n ${hub_pid:-} ]]; then
    pkill -KILL -P "$hub_pid" 2>/dev/null || true
    kill -KILL "$hub_pid" 2>/dev/null || true
  fi
  if [[ -n ${cp_pid:-} ]]; then kill -KILL "$cp_pid" 2>/dev/null || true; fi
  # Gone before the pages are given back (their mappings would keep hugetlbfs busy).
  wait 2>/dev/null || true
  for n in "$ns" "$client_ns"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
  done
  if [[ -n ${hp_reserved:-} ]]; then "$hp" down >/dev/null 2>&1 || true; fi
  rm -rf "$root" "$svc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
fail() { echo "FAIL: $*"; exit 1; }
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
# What the units rely on from the OS: systemd's own targets and kill(1).
mkdir -p "$root/usr/lib/systemd" "$root/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$(type -P kill)" "$root/bin/kill"
unitdir=$root/usr/local/lib/systemd/system
units=("$unitdir"/dmrswitch-dp.service "$unitdir"/dmrswitch-cp.service)
dropins=$root/usr/local/share/dmrswitch/systemd
for u in "${units[@]}"; do
  [[ -f $u ]] || fail "not installed: $u"
done
for d in dp-xdp-shield dp-afxdp dp-dpdk cp-xdp-shield; do
  [[ -f $dropins/$d.conf ]] || fail "drop-in not installed: $dropins/$d.conf"
done
[[ -x $root/usr/local/libexec/dmrswitch/hugepages.sh ]] || fail "hugepages.sh not installed"
[[ -f $root/usr/local/share/doc/dmrswitch/operations.md ]] || fail "operations.md not installed"

# The service user: a sysusers.d file that systemd-sysusers accepts and that creates exactly
# the user and group the units name (into the scratch root's /etc).
sysusers=$root/usr/local/lib/sysusers.d/dmrswitch.conf
[[ -f $sysusers ]] || fail "sysusers.d file not installed"
mkdir -p "$root/etc"
: >"$root/etc/passwd"
: >"$root/etc/group"
systemd-sysusers --root="$root" "$sysusers" >/dev/null 2>&1 || fail "systemd-sysusers refused $sysusers"
grep -q '^dmrswitch:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$root/etc/passwd" ||
  fail "systemd-sysusers made no dmrswitch user: $(cat "$root/etc/passwd")"
grep -q '^dmrswitch:x:' "$root/etc/group" || fail "systemd-sysusers made no dmrswitch group"

verify() {  # what is being verified, for the message
  local out
  out=$(systemd-analyze verify --man=no --root="$root" "${units[@]}" 2>&1) || fail "$1: $out"
  [[ -z $out ]] || fail "$1: $out"
}
verify "units"
for u in "${units[@]}"; do
  for line in Type=notify NotifyAccess=main WatchdogSec=30 User=dmrswitch Group=dmrswitch \
    NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
    ProtectKernelTunables=yes ProtectKernelModules=yes ProtectControlGroups=yes \
    SystemCallArchitectures=native LockPersonality=yes MemoryDenyWriteExecute=yes \
    RestrictNamespaces=yes Environment=XDG_RUNTIME_DIR=/run/dmrswitch UMask=0007; do
    grep -qx "$line" "$u" || fail "$(basename "$u"): no $line"
  done
done
grep -qx 'RuntimeDirectory=dmrswitch' "${units[0]}" || fail "dp unit: no RuntimeDirectory"
grep -qx 'RuntimeDirectoryMode=0750' "${units[0]}" || fail "dp unit: RuntimeDirectoryMode"
# The cp must not own the dp's run directory (stopping the cp would remove it).
! grep -q '^RuntimeDirectory=' "${units[1]}" || fail "cp unit removes the dp's run directory"
grep -qx 'ReadWritePaths=-/run/dmrswitch' "${units[1]}" || fail "cp unit: no ReadWritePaths"
grep -qx 'BindsTo=dmrswitch-dp.service' "${units[1]}" || fail "cp unit: not bound to the dp"
grep -qx 'RestartPreventExitStatus=78' "${units[1]}" || fail "cp unit: RestartPreventExitStatus"
grep -qx 'SuccessExitStatus=78' "${units[1]}" || fail "cp unit: SuccessExitStatus"

# Each drop-in as an operator installs it: valid with its unit, and the capabilities it names.
for d in dp-xdp-shield dp-afxdp dp-dpdk cp-xdp-shield; do
  unit=dmrswitch-${d%%-*}.service
  mkdir -p "$root/etc/systemd/system/$unit.d"
  cp "$dropins/$d.conf" "$root/etc/systemd/system/$unit.d/$d.conf"
  verify "with $d.conf"
  rm -r "$root/etc/systemd/system/$unit.d"
done

# The sandbox's score (systemd-analyze security; lower is better, the units scored 9.6 before
# they were sandboxed). docs/operations.md records these figures.
score() {  # UNIT [DROP-IN]
  local unit=$1 out
  if [[ -n ${2:-} ]]; then
    mkdir -p "$root/etc/systemd/system/$unit.d"
    cp "$dropins/$2.conf" "$root/etc/systemd/system/$unit.d/"
  fi
  out=$(systemd-analyze security --offline=yes --root="$root" "$unit" 2>&1 | tail -1)
  rm -rf "$root/etc/systemd/system/$unit.d"
  [[ $out =~ exposure\ level\ for\ $unit:\ ([0-9]+\.[0-9]) ]] || fail "no score for $unit: $out"
  echo "${BASH_REMATCH[1]}"
}
declare -A limit=([dmrswitch-dp.service]=1.7 [dmrswitch-cp.service]=1.7
  [dmrswitch-dp.service+dp-xdp-shield]=2.3 [dmrswitch-dp.service+dp-afxdp]=2.5
  [dmrswitch-dp.service+dp-dpdk]=1.9 [dmrswitch-cp.service+cp-xdp-shield]=1.9)
for key in dmrswitch-dp.service dmrswitch-cp.service dmrswitch-dp.service+dp-xdp-shield \
  dmrswitch-dp.service+dp-afxdp dmrswitch-dp.service+dp-dpdk dmrswitch-cp.service+cp-xdp-shield; do
  got=$(score "${key%%+*}" "$([[ $key == *+* ]] && echo "${key#*+}")")
  echo "systemd-analyze security: $key $got"
  awk -v g="$got" -v l="${limit[$key]}" 'BEGIN { exit !(g <= l) }' ||
    fail "$key scores $got, more exposed than ${limit[$key]}"
done

# Hugepages: asked of the dp, never reserved unconditionally, sized by the configuration,
# given back when the unit stops.
dp=$root/usr/local/bin/dmrswitch-dp
hp=$root/usr/local/libexec/dmrswitch/hugepages.sh
pre=$(grep '^ExecStartPre=' "${units[0]}") || fail "dp unit: no ExecStartPre"
[[ $pre == "ExecStartPre=-+/usr/local/libexec/dmrswitch/hugepages.sh up-if-needed --group dmrswitch /usr/local/bin/dmrswitch-dp --config /etc/dmrswitch/hub.toml" ]] ||
  fail "dp unit: unexpected hugepages step: $pre"
post=$(grep '^ExecStopPost=' "${units[0]}") || fail "dp unit: no ExecStopPost"
[[ $post == "ExecStopPost=-+/usr/local/libexec/dmrswitch/hugepages.sh down" ]] ||
  fail "dp unit: unexpected ExecStopPost: $post"
conf=$root/profiles
mkdir -p "$conf"
profile() {  # NAME EXPECTED PAGES TOML  (PAGES: a number, or "estimate" for > 0)
  printf '%s\n' "$4" >"$conf/$1.toml"
  local got pages
  got=$("$dp" --config "$conf/$1.toml" --needs-hugepages) || fail "$1: dp refused: $got"
  [[ $got == "$2" ]] || fail "profile $1: --needs-hugepages says '$got', expected '$2'"
  pages=$("$dp" --config "$conf/$1.toml" --hugepages) || fail "$1: dp refused: $pages"
  if [[ $3 == estimate ]]; then
    ((pages > 0)) || fail "profile $1: --hugepages says $pages"
  else
    [[ $pages == "$3" ]] || fail "profile $1: --hugepages says '$pages', expected '$3'"
  fi
}
hbp=$'[hbp]\npassphrase = "passw0rd"\n'
profile pi no 0 $'[hub]\nmode = "kernel"\nshards = 1\ncontrol_plane = "hosted"\n'"$hbp"$'max_clients = 500\n[xdp]\ninterface = "eth0"\nattach = "generic"'
profile kernel-separate yes estimate $'[hub]\ncontrol_plane = "separate"\n'"$hbp"
profile dpdk yes estimate $'[hub]\nmode = "dpdk"\n'"$hbp"$'[dpdk]\neal_args = ["--no-pci"]\naddress = "198.18.0.1"'
profile dpdk-m yes 150 $'[hub]\nmode = "dpdk"\n'"$hbp"$'[dpdk]\neal_args = ["--no-pci", "-m", "299"]\naddress = "198.18.0.1"'
profile dpdk-socket-mem yes 768 $'[hub]\nmode = "dpdk"\n'"$hbp"$'[dpdk]\neal_args = ["--no-pci", "--socket-mem=512,1024"]\naddress = "198.18.0.1"'
profile dpdk-no-huge no 0 $'[hub]\nmode = "dpdk"\n'"$hbp"$'[dpdk]\neal_args = ["--no-huge", "-m", "256"]\naddress = "198.18.0.1"'
profile afxdp yes estimate $'[hub]\nmode = "afxdp"\nshards = 1\n'"$hbp"$'[dpdk]\naddress = "198.18.0.1"\n[xdp]\ninterface = "eth0"'
profile afxdp-no-huge no 0 $'[hub]\nmode = "afxdp"\nshards = 1\n'"$hbp"$'[dpdk]\neal_args = ["--no-huge"]\naddress = "198.18.0.1"\n[xdp]\ninterface = "eth0"'
# More shards or clients, more pages.
small=$("$dp" --config "$conf/kernel-separate.toml" --hugepages)
printf '[hub]\ncontrol_plane = "separate"\nshards = 4\n%smax_clients = 20000\n' "$hbp" >"$conf/big.toml"
big=$("$dp" --config "$conf/big.toml" --hugepages)
((big > small)) || fail "4 shards and 20000 clients need $big pages, 2 shards and the default $small"
# The Pi profile through the unit's own step: nothing reserved, nothing mounted, no state kept.
state=/run/dmrswitch-hugepages.state
nr_before=$(cat /proc/sys/vm/nr_hugepages)
mounts_before=$(grep -c ' hugetlbfs ' /proc/mounts || true)
state_before=$([[ -e $state ]] && echo yes || echo no)
out=$("$hp" up-if-needed --group dmrswitch "$dp" --config "$conf/pi.toml")
[[ $out == *"not needed"* ]] || fail "Pi profile: hugepages.sh said: $out"
[[ $(cat /proc/sys/vm/nr_hugepages) == "$nr_before" ]] || fail "Pi profile reserved hugepages"
[[ $(grep -c ' hugetlbfs ' /proc/mounts || true) == "$mounts_before" ]] || fail "Pi profile mounted hugetlbfs"
[[ $([[ -e $state ]] && echo yes || echo no) == "$state_before" ]] || fail "Pi profile left hugepages state"
# A file the dp cannot read: the step reserves nothing and does not fail the unit.
printf '[hub]\nmode = "vpp"\n' >"$conf/broken.toml"
"$hp" up-if-needed --group dmrswitch "$dp" --config "$conf/broken.toml" 2>/dev/null ||
  fail "hugepages.sh up-if-needed failed on a broken configuration"
[[ $(cat /proc/sys/vm/nr_hugepages) == "$nr_before" ]] || fail "broken configuration reserved hugepages"
# A profile that needs pages, through the unit's own two steps: ExecStartPre reserves what the
# dp's --hugepages says and opens hugetlbfs to the service group, ExecStopPost gives back exactly
# that (the reservation, the mount, the mount point's group and mode). `nogroup` stands in for
# the service group, which systemd-sysusers creates on an installed machine only.
[[ ! -e $state ]] || fail "a hugepage reservation is in place ($state): run tools/hugepages.sh down first"
mp_before=$(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)
owner_before=$([[ -n $mp_before ]] && stat -c '%g:%a' "$mp_before" || true)
need=$("$dp" --config "$conf/dpdk-m.toml" --hugepages)
((need > 0)) || fail "the dpdk-m profile needs no pages?"
want=$((need > nr_before ? need : nr_before))  # a larger reservation already there is kept
hp_reserved=1
"$hp" up-if-needed --group nogroup "$dp" --config "$conf/dpdk-m.toml" >/dev/null ||
  fail "hugepages.sh up-if-needed failed for the dpdk-m profile"
[[ $(cat /proc/sys/vm/nr_hugepages) == "$want" ]] ||
  fail "up-if-needed left $(cat /proc/sys/vm/nr_hugepages) pages reserved; the profile needs $need, $nr_before were"
[[ -e $state ]] || fail "up-if-needed kept no state for down"
mp=$(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)
[[ -n $mp ]] || fail "up-if-needed mounted no hugetlbfs"
[[ $(stat -c '%G' "$mp") == nogroup ]] || fail "$mp is not group-owned by the service group"
perm=$(stat -c '%a' "$mp")
(( (8#$perm & 8#1070) == 8#1070 )) || fail "$mp mode $perm: the group cannot create files, or no sticky bit"
"$hp" down >/dev/null || fail "hugepages.sh down failed"
hp_reserved=
[[ $(cat /proc/sys/vm/nr_hugepages) == "$nr_before" ]] ||
  fail "down left $(cat /proc/sys/vm/nr_hugepages) pages reserved, $nr_before before"
[[ $(grep -c ' hugetlbfs ' /proc/mounts || true) == "$mounts_before" ]] || fail "down left hugetlbfs mounted"
[[ ! -e $state ]] || fail "down left its state"
if [[ -n $mp_before ]]; then
  [[ $(stat -c '%g:%a' "$mp_before") == "$owner_before" ]] ||
    fail "down left $mp_before as $(stat -c '%g:%a' "$mp_before"), $owner_before before"
fi

# --- The service as the unit runs it: an unprivileged user, the unit's capabilities only. ---
hub_pid=
uid=64000
while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
# "CAP_BPF CAP_NET_BIND_SERVICE" -> "+bpf,+net_bind_service", from the last non-empty line.
caps_of() {  # FILE DIRECTIVE
  local line
  line=$(grep "^$2=." "$1" | tail -1) || fail "$1: no $2"
  line=${line#*=}
  echo ",$line" | tr 'A-Z' 'a-z' | sed -e 's/cap_/+/g' -e 's/ /,/g'
}
[[ $(caps_of "${units[0]}" CapabilityBoundingSet) == "$(caps_of "${units[0]}" AmbientCapabilities)" ]] ||
  fail "dp unit: bounding and ambient sets differ"
# Replaces the calling (sub)shell, so that $! of `( as_service ... ) &` is the hub's PID.
as_service() {  # CAPS COMMAND...  (the unit's User=, capabilities, NoNewPrivileges=, UMask=)
  local caps=$1
  shift
  exec setpriv --reuid="$uid" --regid="${service_gid:-$uid}" --clear-groups --inh-caps="-all$caps" \
    --ambient-caps="-all$caps" --bounding-set="-all$caps" --no-new-privs \
    env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$run" DMRSWITCH_XDP_OBJECT="$xdp_object" \
    sh -c 'umask 0007; exec "$@"' sh "$@"
}
sim=$root/usr/local/bin/dmrswitch-sim
xdp_object=$(find "$root" -name xdp_shield.bpf.o | head -1)
[[ -n $xdp_object ]] || fail "xdp_shield.bpf.o not installed"
chmod 0755 "$root"  # the service user runs the installed binaries
run=$svc/run
mkdir -p "$run"
chown "$uid:$uid" "$svc" "$run"
chmod 0750 "$svc" "$run"
port=$((20000 + $$ % 20000))
start_hub() {  # LOG CAPS CONFIG
  local log=$1 caps=$2 config=$3
  (as_service "$caps" "$dp" --config "$config" >"$log" 2>&1) &
  hub_pid=$!
  for _ in $(seq 100); do
    grep -qs 'dmrswitch-dp: kernel mode' "$log" && return 0
    kill -0 "$hub_pid" 2>/dev/null || fail "the hub did not start: $(cat "$log")"
    sleep 0.1
  done
  fail "the hub did not start in 10 s: $(cat "$log")"
}
stop_hub() {
  kill -TERM "$hub_pid"
  wait "$hub_pid" || fail "the hub exited with $? on SIGTERM: $(tail -5 "$1")"
}

# Kernel mode, hosted, two shards (sk_reuseport steering needs the unit's CAP_BPF), with the
# configuration readable by the service user alone.
kcaps=$(caps_of "${units[0]}" AmbientCapabilities)
cat >"$svc/hub.toml" <<EOF
[hub]
mode = "kernel"
shards = 2
control_plane = "hosted"
runtime_name = "units-test-$$"
run_dir = "$run"
[hbp]
listen = "127.0.0.1:$port"
passphrase = "units-test-secret"
EOF
chown "$uid:$uid" "$svc/hub.toml"
chmod 0600 "$svc/hub.toml"
start_hub "$svc/kernel.log" "$kcaps" "$svc/hub.toml"
grep -q 'steering sk_reuseport BPF' "$svc/kernel.log" ||
  fail "kernel mode with the unit's capabilities did not load the steering program: $(cat "$svc/kernel.log")"
out=$("$sim" --hub "127.0.0.1:$port" --passphrase units-test-secret --clients 2 --calls 0 \
  --duration-s 1 --quiet 2>&1) || fail "no login to the unprivileged hub: $out"
[[ $out == *"logins 2,"* ]] || fail "unprivileged hub: $out"
ls "$run" | grep -q '\.lock$' || fail "no lock in the service's run directory: $(ls -la "$run")"
# The process: the service user, exactly the unit's capabilities, no new privileges.
status=$(cat "/proc/$hub_pid/status")
[[ $(awk '/^Uid:/ {print $2 $3 $4 $5}' <<<"$status") == "$uid$uid$uid$uid" ]] || fail "hub not running as $uid"
[[ $(awk '/^NoNewPrivs:/ {print $2}' <<<"$status") == 1 ]] || fail "hub may gain privileges"
eff=$(awk '/^CapEff:/ {print $2}' <<<"$status")
[[ $(capsh --decode="$eff") == *"cap_net_bind_service,cap_bpf"* || $(capsh --decode="$eff") == *"cap_bpf,cap_net_bind_service"* ]] ||
  fail "hub's effective capabilities: $(capsh --decode="$eff")"
stop_hub "$svc/kernel.log"
grep -q 'readable by every user' "$svc/kernel.log" &&
  fail "a configuration readable by its user only was called world-readable: $(cat "$svc/kernel.log")"

# What the unit's SystemCallFilter= and MemoryDenyWriteExecute= would refuse (systemd enforces
# them with seccomp, which needs systemd as PID 1): the same hub under strace through a login,
# every call it makes must be in the unit's allow list, and no mapping may be writable and
# executable. EAL tries iopl() once for legacy virtio and ignores its refusal.
expand_filter() {  # GROUP-OR-CALL...
  local g
  for g in "$@"; do
    if [[ $g == @* ]]; then
      expand_filter $(systemd-analyze syscall-filter "$g" | awk '/^ +[@a-z0-9_-]+$/ {print $1}')
    else
      echo "$g"
    fi
  done
}
allow=$(comm -23 <(expand_filter @system-service | sort -u) <(expand_filter @privileged | sort -u))
allow=$(printf '%s\nbpf\n' "$allow" | sort -u)
[[ $(grep -c '^SystemCallFilter=' "${units[0]}") == 3 &&
   $(grep '^SystemCallFilter=' "${units[0]}" | tr '\n' ' ') == "SystemCallFilter=@system-service SystemCallFilter=~@privileged SystemCallFilter=bpf " ]] ||
  fail "the dp unit's SystemCallFilter= is not the one this test checks"
# LeakSanitizer cannot run under ptrace (a sanitized build would exit 1 at the end): off for this
# run only; the hub's other runs in the tests keep it.
(as_service "$kcaps" strace -f -qq -o "$svc/strace.txt" -E ASAN_OPTIONS=detect_leaks=0 \
  "$dp" --config "$svc/hub.toml" >"$svc/strace.log" 2>&1) &
hub_pid=$!
for _ in $(seq 100); do grep -qs 'dmrswitch-dp: kernel mode' "$svc/strace.log" && break; sleep 0.1; done
out=$("$sim" --hub "127.0.0.1:$port" --passphrase units-test-secret --clients 2 --calls 1 \
  --duration-s 1 --quiet 2>&1) || fail "no login to the hub under strace: $out"
# SIGTERM to the hub itself (strace would detach and leave it running).
kill -TERM "$(pgrep -P "$hub_pid" | head -1)"
wait "$hub_pid" || fail "the hub under strace exited with $?: $(tail -5 "$svc/strace.log")"
used=$(sed -E 's/^[0-9]+ +//' "$svc/strace.txt" | grep -oE '^[a-z_0-9]+\(' | tr -d '(' | sort -u)
[[ $(wc -l <<<"$used") -gt 30 ]] || fail "strace saw too little: $(head "$svc/strace.txt")"
refused=$(comm -23 <(echo "$used") <(echo "$allow") | grep -vx iopl || true)
[[ -z $refused ]] || fail "the unit's SystemCallFilter= would refuse: $refused"
! grep -E 'PROT_(READ\|)?WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE' "$svc/strace.txt" ||
  fail "a writable and executable mapping: MemoryDenyWriteExecute= would refuse it"

# The same configuration readable by everyone: named with its mode.
chmod 0644 "$svc/hub.toml"
start_hub "$svc/kernel2.log" "$kcaps" "$svc/hub.toml"
stop_hub "$svc/kernel2.log"
grep -q "$svc/hub.toml (the configuration, with its passphrases) is readable by every user of this machine (mode 0644)" \
  "$svc/kernel2.log" || fail "no warning for a world-readable configuration: $(cat "$svc/kernel2.log")"
! grep -q units-test-secret "$svc/kernel2.log" || fail "the passphrase reached the log"
chmod 0600 "$svc/hub.toml"

# The XDP shield in a network namespace of the test's own, with the drop-in's capabilities.
# systemd mounts the bpffs root-only (0700) on a host: so does the test, in the namespace.
xcaps=$(caps_of "$dropins/dp-xdp-shield.conf" AmbientCapabilities)
# The client in a namespace of its own, so that its packets cross the veth and the shield.
ip netns add "$ns"
ip netns add "$client_ns"
ip -n "$ns" link add dmrsw0 type veth peer name dmrsw1 netns "$client_ns"
ip -n "$ns" addr add 198.18.151.1/24 dev dmrsw0
ip -n "$client_ns" addr add 198.18.151.2/24 dev dmrsw1
ip -n "$ns" link set lo up
ip -n "$ns" link set dmrsw0 up
ip -n "$client_ns" link set dmrsw1 up
sed -e "s/127.0.0.1:$port/198.18.151.1:$port/" "$svc/hub.toml" >"$svc/xdp.toml"
printf '[xdp]\ninterface = "dmrsw0"\nattach = "generic"\n' >>"$svc/xdp.toml"
chown "$uid:$uid" "$svc/xdp.toml"
chmod 0600 "$svc/xdp.toml"
bpffs="mount -t bpf -o mode=0700 bpf /sys/fs/bpf"
shield_run() {  # LOG CAPS [kill9]: a hub with the shield, a login from the peer address
  local log=$1 caps=$2
  ip netns exec "$ns" sh -c "$bpffs; exec setpriv --reuid=$uid --regid=$uid --clear-groups \
    --inh-caps=-all$caps --ambient-caps=-all$caps --bounding-set=-all$caps --no-new-privs \
    env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR=$run DMRSWITCH_XDP_OBJECT=$xdp_object \
    $dp --config $svc/xdp.toml" >"$log" 2>&1 &
  hub_pid=$!
}
wait_started() {  # LOG
  for _ in $(seq 100); do
    grep -qs 'dmrswitch-dp: kernel mode' "$1" && return 0
    kill -0 "$hub_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
shield_run "$svc/xdp.log" "$xcaps"
wait_started "$svc/xdp.log" || fail "the shield hub did not start: $(cat "$svc/xdp.log")"
grep -q 'XDP shield generic on dmrsw0' "$svc/xdp.log" || fail "no shield: $(cat "$svc/xdp.log")"
out=$(ip netns exec "$client_ns" "$sim" --hub "198.18.151.1:$port" --local 198.18.151.2 \
  --passphrase units-test-secret --clients 2 --calls 0 --duration-s 1 --quiet 2>&1) ||
  fail "no login through the shield: $out"
[[ $out == *"logins 2,"* ]] || fail "shield hub: $out"
stop_hub "$svc/xdp.log"
ip -n "$ns" link show dmrsw0 | grep -q 'prog/xdp' && fail "a clean stop left the shield attached"
# A killed dp leaves its program and pins; the next one replaces them with the drop-in's
# capabilities, and could not without CAP_SYS_ADMIN (which is why the drop-in has it).
shield_run "$svc/xdp-killed.log" "$xcaps"
wait_started "$svc/xdp-killed.log" || fail "the shield hub did not start: $(cat "$svc/xdp-killed.log")"
kill -KILL "$hub_pid"
wait "$hub_pid" 2>/dev/null || true
ip -n "$ns" link show dmrsw0 | grep -q 'prog/xdp' || fail "the killed dp left no program to replace"
shield_run "$svc/xdp-nosysadmin.log" "${xcaps/,+sys_admin/}"
for _ in $(seq 100); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$hub_pid" 2>/dev/null; then
  kill -KILL "$hub_pid"
  fail "without CAP_SYS_ADMIN the dp replaced a stale shield: $(cat "$svc/xdp-nosysadmin.log")"
fi
wait "$hub_pid" && fail "without CAP_SYS_ADMIN the dp exited 0: $(cat "$svc/xdp-nosysadmin.log")"
grep -q 'XDP shield' "$svc/xdp-nosysadmin.log" || fail "no reason given: $(cat "$svc/xdp-nosysadmin.log")"
shield_run "$svc/xdp-again.log" "$xcaps"
wait_started "$svc/xdp-again.log" || fail "the stale shield was not replaced: $(cat "$svc/xdp-again.log")"
stop_hub "$svc/xdp-again.log"
ip -n "$ns" link show dmrsw0 | grep -q 'prog/xdp' && fail "a clean stop left the shield attached"
# --- The separate control plane and afxdp mode on hugepages, as the units run them. ---
# Each through the dp unit's own steps: ExecStartPre reserves the pages its configuration needs
# and opens hugetlbfs to the service group (`nogroup` stands in for it, as above, and is the
# service's group for these runs), ExecStopPost gives them back.
service_gid=$(getent group nogroup | cut -d: -f3)
[[ -n $service_gid ]] || fail "no group nogroup on this machine (it stands in for the service group)"
chown "$uid:$service_gid" "$svc" "$run"
cp_bin=$root/usr/local/bin/dmrswitch-cp
ccaps=$(caps_of "${units[1]}" AmbientCapabilities)
[[ $(caps_of "${units[1]}" CapabilityBoundingSet) == "$ccaps" ]] || fail "cp unit: bounding and ambient sets differ"
hugepages_up() {  # CONFIG
  hp_reserved=1
  "$hp" up-if-needed --group nogroup "$dp" --config "$1" >/dev/null ||
    fail "hugepages.sh up-if-needed failed for $1"
  [[ -n $(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts) ]] ||
    fail "up-if-needed mounted no hugetlbfs for $1"
  free_after_up=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
}
pages_given_back() {  # PREFIX: after a clean stop no file of the hub's is left, every page free
  local mp
  mp=$(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)
  [[ -z $(find "$mp" -maxdepth 1 -name "$1*") ]] ||
    fail "hugepage files left in $mp after a clean stop: $(ls -la "$mp")"
  # An AF_XDP socket's UMEM lets go of its pinned pages in a kernel work item after the exit.
  for _ in $(seq 50); do
    [[ $(awk '/HugePages_Free/ {print $2}' /proc/meminfo) == "$free_after_up" ]] && return 0
    sleep 0.1
  done
  fail "hugepages still in use 5 s after a clean stop ($free_after_up free before the start): $(grep HugePages_ /proc/meminfo)"
}
hugepages_down() {
  "$hp" down >/dev/null || fail "hugepages.sh down failed"
  hp_reserved=
  [[ $(cat /proc/sys/vm/nr_hugepages) == "$nr_before" ]] ||
    fail "down left $(cat /proc/sys/vm/nr_hugepages) pages reserved, $nr_before before"
}
effective_caps() {  # PID
  capsh --decode="$(awk '/^CapEff:/ {print $2}' "/proc/$1/status")"
}

# Kernel mode with a separate cp: the dp with its unit's capabilities, then the cp with its
# unit's (CAP_NET_BIND_SERVICE only) attaches to the dp's hugepage memory as a DPDK secondary
# and answers a login.
cat >"$svc/separate.toml" <<EOF
[hub]
mode = "kernel"
shards = 2
control_plane = "separate"
runtime_name = "units-sep-$$"
run_dir = "$run"
[hbp]
listen = "127.0.0.1:$port"
passphrase = "units-test-secret"
EOF
chown "$uid:$service_gid" "$svc/separate.toml"
chmod 0600 "$svc/separate.toml"
hugepages_up "$svc/separate.toml"
start_hub "$svc/sep-dp.log" "$kcaps" "$svc/separate.toml"
(as_service "$ccaps" "$cp_bin" --config "$svc/separate.toml" >"$svc/sep-cp.log" 2>&1) &
cp_pid=$!
for _ in $(seq 200); do
  grep -qs 'dmrswitch-cp: attached to dmrswitch-dp' "$svc/sep-cp.log" && break
  kill -0 "$cp_pid" 2>/dev/null ||
    fail "the cp with its unit's capabilities did not start: $(cat "$svc/sep-cp.log")"
  sleep 0.1
done
grep -qs 'dmrswitch-cp: attached to dmrswitch-dp' "$svc/sep-cp.log" ||
  fail "the cp did not attach in 20 s: $(cat "$svc/sep-cp.log")"
out=$("$sim" --hub "127.0.0.1:$port" --passphrase units-test-secret --clients 2 --calls 0 \
  --duration-s 1 --quiet 2>&1) || fail "no login through the unprivileged cp: $out"
[[ $out == *"logins 2,"* ]] || fail "unprivileged cp: $out"
[[ $(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$cp_pid/status") == "$uid$uid$uid$uid" ]] ||
  fail "cp not running as $uid"
[[ $(effective_caps "$cp_pid") == *"=cap_net_bind_service" ]] ||
  fail "cp's effective capabilities: $(effective_caps "$cp_pid")"
kill -TERM "$cp_pid"
wait "$cp_pid" || fail "the cp exited with $? on SIGTERM: $(tail -5 "$svc/sep-cp.log")"
cp_pid=
stop_hub "$svc/sep-dp.log"
# The dp's watch over the malloc heap locks a killed cp may leave held runs as the service user.
! grep -q 'no watch over DPDK' "$svc/sep-dp.log" || fail "$(grep 'no watch' "$svc/sep-dp.log")"
pages_given_back "units-sep-$$"
hugepages_down
! grep -q units-test-secret "$svc/sep-dp.log" "$svc/sep-cp.log" || fail "the passphrase reached a log"

# afxdp mode in the shield's namespace with the afxdp drop-in's capabilities and the unit's
# LimitMEMLOCK=infinity (the UMEM is locked memory): a login through the AF_XDP socket.
acaps=$(caps_of "$dropins/dp-afxdp.conf" AmbientCapabilities)
ip netns exec "$client_ns" ethtool -K dmrsw1 tx off >/dev/null  # full checksums on the veth
cat >"$svc/afxdp.toml" <<EOF
[hub]
mode = "afxdp"
shards = 1
control_plane = "hosted"
runtime_name = "units-afxdp-$$"
run_dir = "$run"
[hbp]
listen = "198.18.151.1:$port"
passphrase = "units-test-secret"
[dpdk]
eal_args = ["--no-pci", "-m", "256", "--no-telemetry"]
address = "198.18.151.1"
[xdp]
interface = "dmrsw0"
EOF
chown "$uid:$service_gid" "$svc/afxdp.toml"
chmod 0600 "$svc/afxdp.toml"
# LimitMEMLOCK=infinity as prlimit sets it; a machine whose root may not raise the limit (no
# CAP_SYS_RESOURCE, as in some VMs) gets CAP_IPC_LOCK in its place, which lifts the same limit
# for the UMEM (and is said so in the output).
memlock=prlimit\ --memlock=unlimited:unlimited
if ! prlimit --memlock=unlimited:unlimited true 2>/dev/null; then
  memlock=
  acaps=$acaps,+ipc_lock
  echo "systemd_units: LimitMEMLOCK=infinity cannot be set here (no CAP_SYS_RESOURCE): CAP_IPC_LOCK stands in for it"
fi
# DPDK's net_af_xdp driver loads the XDP program with libbpf and never closes the object (its
# map must outlive the port): a sanitized build's LeakSanitizer reports those allocations at
# exit. They are the driver's and libbpf's, so they are suppressed by module; the kernel-mode
# shield runs above load the same program through the hub's own code with leak checks on.
printf 'leak:libbpf.so\nleak:libxdp.so\nleak:librte_net_af_xdp.so\n' >"$svc/lsan-afxdp.supp"
chmod 0644 "$svc/lsan-afxdp.supp"
afxdp_run() {  # LOG CAPS
  ip netns exec "$ns" sh -c "$bpffs; exec $memlock setpriv \
    --reuid=$uid --regid=$service_gid --clear-groups --inh-caps=-all$2 --ambient-caps=-all$2 \
    --bounding-set=-all$2 --no-new-privs env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR=$run \
    DMRSWITCH_XDP_OBJECT=$xdp_object LSAN_OPTIONS=suppressions=$svc/lsan-afxdp.supp \
    $dp --config $svc/afxdp.toml" >"$1" 2>&1 &
  hub_pid=$!
}
hugepages_up "$svc/afxdp.toml"
afxdp_run "$svc/afxdp.log" "$acaps"
for _ in $(seq 200); do
  grep -qs 'dmrswitch-dp: afxdp mode' "$svc/afxdp.log" && break
  kill -0 "$hub_pid" 2>/dev/null ||
    fail "afxdp mode with the drop-in's capabilities did not start: $(cat "$svc/afxdp.log")"
  sleep 0.1
done
grep -qs 'dmrswitch-dp: afxdp mode' "$svc/afxdp.log" ||
  fail "afxdp mode did not start in 20 s: $(cat "$svc/afxdp.log")"
out=$(ip netns exec "$client_ns" "$sim" --hub "198.18.151.1:$port" --local 198.18.151.2 \
  --passphrase units-test-secret --clients 2 --calls 0 --duration-s 1 --quiet 2>&1) ||
  fail "no login through afxdp mode: $out $(cat "$svc/afxdp.log")"
[[ $out == *"logins 2,"* ]] || fail "afxdp hub: $out"
stop_hub "$svc/afxdp.log"
ip -n "$ns" link show dmrsw0 | grep -q 'prog/xdp' && fail "a clean afxdp stop left a program attached"
pages_given_back "units-afxdp-$$"
# Without CAP_NET_RAW (the shield's set) there is no AF_XDP socket: refused, with a reason.
afxdp_run "$svc/afxdp-noraw.log" "${acaps/,+net_raw/}"
for _ in $(seq 200); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$hub_pid" 2>/dev/null; then
  stop_hub "$svc/afxdp-noraw.log"
  fail "afxdp mode started without CAP_NET_RAW: $(cat "$svc/afxdp-noraw.log")"
fi
wait "$hub_pid" && fail "afxdp mode without CAP_NET_RAW exited 0: $(cat "$svc/afxdp-noraw.log")"
hub_pid=
pages_given_back "units-afxdp-$$"  # a start that fails once EAL is up gives them back too
hugepages_down

echo "systemd units verified"
exit 0
