#!/usr/bin/env bash
# Run by `meson install`: creates the dmrswitch system user and group from the sysusers.d file
# just installed, when installing for real (no DESTDIR) as root on a machine with systemd.
# A staged install (DESTDIR, packaging) leaves that to the target machine's systemd-sysusers.
#   post-install.sh SYSUSERS_FILE
set -euo pipefail
file=$1
if [[ -n ${DESTDIR:-} ]]; then
  echo "dmrswitch: staged install; run systemd-sysusers $file on the target"
  exit 0
fi
if [[ $(id -u) != 0 ]] || ! command -v systemd-sysusers >/dev/null; then
  echo "dmrswitch: create the service user: systemd-sysusers $file (as root)"
  exit 0
fi
systemd-sysusers "$file"
echo "dmrswitch: user and group $(id -nu dmrswitch 2>/dev/null || echo '?') ready"
