#!/usr/bin/env bash
# Hugepages for dmrswitch-dp in dpdk/afxdp mode and with a separate control plane (dmrswitch-cp
# attaches as a DPDK secondary process, which needs the dp's memory in shared hugepage files).
#
#   tools/hugepages.sh up [PAGES [GROUP]]
#                                   reserve PAGES 2 MiB pages (default 512) and mount hugetlbfs
#                                   on /dev/hugepages if nothing is mounted; with GROUP, members
#                                   of GROUP (the service user) may create hugepage files there
#                                   (group-owned, g+rwx, sticky); remembers what it changed
#   tools/hugepages.sh up-if-needed [--group GROUP] DP_COMMAND...
#                                   `up N GROUP` with N from `DP_COMMAND... --hugepages` (the
#                                   pages this configuration needs; 0 for kernel mode with a
#                                   hosted control plane, e.g. a Raspberry Pi: nothing reserved)
#   tools/hugepages.sh down         undo exactly what `up` did (the reservation it raised, the
#                                   mount it made, the group and mode it changed)
#   tools/hugepages.sh status       what is reserved, free and mounted
#
# The state lives in a root-owned file outside the service's run directory: the service user
# must not be able to write what root reads back at `down`.
set -euo pipefail
state=/run/dmrswitch-hugepages.state
nr=/proc/sys/vm/nr_hugepages
dir=/dev/hugepages

mounted() { grep -q ' hugetlbfs ' /proc/mounts; }
# The mount point DPDK picks (the first hugetlbfs of the default size in /proc/mounts).
mount_point() { awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts; }

# One "key=value" of the state file, checked to be what `up` wrote.
state_value() {  # KEY PATTERN
  local v
  v=$(sed -n "s/^$1=//p" "$state" | head -1)
  [[ $v =~ $2 ]] || { echo "hugepages.sh: $state: bad $1 '$v'; left as it is" >&2; exit 1; }
  printf '%s' "$v"
}

case ${1:-status} in
  up)
    pages=${2:-512}
    group=${3:-}
    [[ $pages =~ ^[0-9]+$ ]] || { echo "hugepages.sh: PAGES must be a number" >&2; exit 2; }
    if [[ -n $group ]] && ! getent group "$group" >/dev/null; then
      echo "hugepages.sh: no group $group (systemd-sysusers creates dmrswitch)" >&2
      exit 2
    fi
    if [[ ! -f $state ]]; then
      before=$(cat "$nr")
      did_mount=0
      old_owner=
      if ((before < pages)); then echo "$pages" >"$nr"; fi
      if ! mounted; then
        mkdir -p "$dir"
        mount -t hugetlbfs nodev "$dir"
        did_mount=1
      fi
      mp=$(mount_point)
      if [[ -n $group ]]; then
        old_owner=$(stat -c '%g:%a' "$mp")
        chgrp "$group" "$mp"
        chmod g+rwx,+t "$mp"
      fi
      printf 'pages_before=%s\nmounted_by_us=%s\nmount_point=%s\nowner_before=%s\n' \
        "$before" "$did_mount" "$mp" "$old_owner" >"$state"
    fi
    got=$(cat "$nr")
    if ((got < pages)); then
      echo "hugepages.sh: asked for $pages pages, the kernel gave $got (memory fragmented?)" >&2
    fi
    echo "hugepages: $(awk '/HugePages_Free/ {print $2}' /proc/meminfo) free of $got; hugetlbfs on $(mount_point)${group:+, writable by group $group}"
    ;;
  up-if-needed)
    shift
    group=
    if [[ ${1:-} == --group ]]; then
      group=${2:?hugepages.sh: --group GROUP}
      shift 2
    fi
    (($# >= 1)) || { echo "hugepages.sh: up-if-needed [--group GROUP] DP_COMMAND..." >&2; exit 2; }
    if ! pages=$("$@" --hugepages) || [[ ! $pages =~ ^[0-9]+$ ]]; then
      # A configuration the dp cannot read: it says what is wrong when it starts.
      echo "hugepages.sh: \`$* --hugepages\` failed; no hugepages reserved" >&2
      exit 0
    fi
    if ((pages == 0)); then
      echo "hugepages: not needed by this configuration; none reserved"
      exit 0
    fi
    exec "$0" up "$pages" $group
    ;;
  down)
    if [[ ! -f $state ]]; then
      echo "hugepages: nothing to undo"
      exit 0
    fi
    pages_before=$(state_value pages_before '^[0-9]+$')
    mounted_by_us=$(state_value mounted_by_us '^[01]$')
    mp=$(state_value mount_point '^/[^[:space:]]*$')
    owner_before=$(state_value owner_before '^([0-9]+:[0-7]+)?$')
    if [[ -n $owner_before ]] && mountpoint -q "$mp"; then
      chgrp "${owner_before%%:*}" "$mp"
      chmod "${owner_before##*:}" "$mp"
    fi
    if ((mounted_by_us == 1)) && mountpoint -q "$mp"; then
      umount "$mp" || echo "hugepages.sh: $mp busy, left mounted" >&2
    fi
    echo "$pages_before" >"$nr"
    rm -f "$state"
    echo "hugepages: restored to $pages_before pages"
    ;;
  status)
    grep -E 'HugePages_(Total|Free)' /proc/meminfo
    awk '$3 == "hugetlbfs" {print "hugetlbfs on " $2}' /proc/mounts
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
