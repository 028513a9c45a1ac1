#!/usr/bin/env bash
# Runs a test binary with hugepages set up by the project's script and undoes them afterwards,
# also when the test fails or meson stops it at its timeout (SIGTERM).
#   with_hugepages.sh SOURCE_DIR TEST_BINARY [ARGS...]
set -uo pipefail
src=$1
shift
if [[ $(id -u) != 0 ]]; then
  echo "SKIP: hugepages need root"
  exit 77
fi
# Undo only what this run set up: a reservation someone else made (its state file) stays.
ours=1
[[ -f /run/dmrswitch-hugepages.state ]] && ours=0
"$src/tools/hugepages.sh" up 512 || exit 1
child=0
cleanup() {
  if ((child > 0)); then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  if ((ours == 1)); then "$src/tools/hugepages.sh" down; fi
}
trap 'cleanup; exit 143' TERM INT
"$@" &
child=$!
wait "$child"
rc=$?
child=0
cleanup
exit $rc
