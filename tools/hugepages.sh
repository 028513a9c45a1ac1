#!/usr/bin/env bash
# Hugepages for dmrswitch-dp with a separate control plane (and DPDK mode): dmrswitch-cp attaches
# as a DPDK secondary process, which needs the dp's memory in shared hugepage files.
#
#   tools/hugepages.sh up [PAGES]   reserve PAGES 2 MiB pages (default 512) and mount hugetlbfs
#                                   on /dev/hugepages if nothing is mounted; remembers what it did
#   tools/hugepages.sh up-if-needed PAGES DP_COMMAND...
#                                   `up PAGES` only if `DP_COMMAND... --needs-hugepages` says yes
#                                   (dmrswitch-dp --config FILE: dpdk/afxdp mode without --no-huge,
#                                   or a separate control plane); a kernel-mode hub with a hosted
#                                   control plane (a Raspberry Pi) reserves none
#   tools/hugepages.sh down         undo exactly what `up` did (the reservation it raised, the
#                                   mount it made)
#   tools/hugepages.sh status       what is reserved, free and mounted
set -euo pipefail
state_dir=/run/dmrswitch
state=$state_dir/hugepages.state
nr=/proc/sys/vm/nr_hugepages

mounted() { grep -q ' hugetlbfs ' /proc/mounts; }

case ${1:-status} in
  up)
    pages=${2:-512}
    [[ $pages =~ ^[0-9]+$ ]] || { echo "hugepages.sh: PAGES must be a number" >&2; exit 2; }
    mkdir -p "$state_dir"
    before=$(cat "$nr")
    did_mount=0
    if [[ ! -f $state ]]; then
      if ((before < pages)); then echo "$pages" >"$nr"; fi
      if ! mounted; then
        mkdir -p /dev/hugepages
        mount -t hugetlbfs nodev /dev/hugepages
        did_mount=1
      fi
      printf 'pages_before=%s\nmounted_by_us=%s\n' "$before" "$did_mount" >"$state"
    fi
    got=$(cat "$nr")
    if ((got < pages)); then
      echo "hugepages.sh: asked for $pages pages, the kernel gave $got (memory fragmented?)" >&2
    fi
    echo "hugepages: $(awk '/HugePages_Free/ {print $2}' /proc/meminfo) free of $got; hugetlbfs on $(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)"
    ;;
  up-if-needed)
    pages=${2:-512}
    (($# >= 3)) || { echo "hugepages.sh: up-if-needed PAGES DP_COMMAND..." >&2; exit 2; }
    shift 2
    if ! need=$("$@" --needs-hugepages); then
      # A configuration the dp cannot read: it says what is wrong when it starts.
      echo "hugepages.sh: \`$* --needs-hugepages\` failed; no hugepages reserved" >&2
      exit 0
    fi
    if [[ $need != yes ]]; then
      echo "hugepages: not needed by this configuration; none reserved"
      exit 0
    fi
    exec "$0" up "$pages"
    ;;
  down)
    if [[ ! -f $state ]]; then
      echo "hugepages: nothing to undo"
      exit 0
    fi
    # shellcheck disable=SC1090
    source "$state"
    if ((mounted_by_us == 1)) && mountpoint -q /dev/hugepages; then
      umount /dev/hugepages || echo "hugepages.sh: /dev/hugepages busy, left mounted" >&2
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
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
