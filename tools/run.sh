#!/usr/bin/env bash
# The run command: installs what is missing (Debian 12), builds, and starts the hub.
#
#   tools/run.sh                      kernel mode with the embedded default configuration:
#                                     HBP on 127.0.0.1:62031 (passphrase passw0rd), so a hotspot
#                                     or DMRGateway on this box can log in
#   tools/run.sh --config FILE        your configuration (docs/config.md)
#
# Everything after the script name goes to dmrswitch-dp. Ctrl-C stops the hub (clients get MSTCL).
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build >/dev/null
fi
meson compile -C build dmrswitch-dp dmrswitch-sim >/dev/null
exec ./build/dataplane/dmrswitch-dp "$@"
