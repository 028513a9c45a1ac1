#!/usr/bin/env bash
# The packet plane knows nothing of the control plane (DESIGN.md §2, §10): no file under
# dataplane/ except dataplane/dp_main.cc (which hosts the control plane) includes anything from
# ctrlplane/. The pure layers stay pure too: dataplane/proto, route and net include neither DPDK
# nor dataplane/io or dataplane/ipc.
#
#   layering_test.sh SOURCE_ROOT
set -uo pipefail
root=${1:?usage: layering_test.sh SOURCE_ROOT}
cd "$root" || exit 2
fail=0

bad=$(grep -rnE '^\s*#\s*include\s+"ctrlplane/' dataplane --include='*.h' --include='*.cc' \
  --include='*.c' | grep -v '^dataplane/dp_main.cc:')
if [[ -n $bad ]]; then
  echo "dataplane/ includes ctrlplane/ (only dataplane/dp_main.cc may):"
  echo "$bad"
  fail=1
fi

bad=$(grep -rnE '^\s*#\s*include\s+[<"](rte_|dataplane/io/|dataplane/ipc/)' \
  dataplane/proto dataplane/route dataplane/net --include='*.h' --include='*.cc')
if [[ -n $bad ]]; then
  echo "a pure layer (dataplane/proto, route, net) includes DPDK or the I/O layer:"
  echo "$bad"
  fail=1
fi

# The check itself must see the tree: an empty dataplane/ would pass vacuously.
n=$(find dataplane -name '*.cc' | wc -l)
if ((n < 10)); then
  echo "layering_test: only $n sources under dataplane/; wrong SOURCE_ROOT?"
  fail=1
fi
((fail == 0)) && echo "layering: ok ($n sources checked)"
exit $fail
