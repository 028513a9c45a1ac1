#!/usr/bin/env bash
# The test command: installs what is missing (Debian 12), builds, and runs every test.
#
#   tools/test.sh            release build (gcc, -O3 -march=native) and all its tests
#   tools/test.sh sanitize   the same tests under AddressSanitizer + UBSan (build-asan/), but
#                            the heavy end-to-end suites (suite "heavy"), which run in release
#   tools/test.sh fuzz       every libFuzzer target for a bounded time (clang, build-fuzz/)
#   tools/test.sh all        the three above, in that order
#   tools/test.sh arm64      cross-build the pure core for arm64 (Raspberry Pi; -Dpacket_plane=disabled) and
#                            run its tests under qemu-user (build-arm64/)
#
# Prints "N passed, N failed" (counted from meson's test log) and exits non-zero on any failure.
# A skipped test is not a pass: skips are counted and printed on their own line ("N skipped"),
# and under CI=true every skip also counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-release}

./tools/install-deps.sh

jobs=$(nproc)
# Extra `meson test` arguments of a mode (sanitize leaves out the heavy end-to-end suites).
test_args=()
passed=0
failed=0
skipped=0

# run_suite BUILD_DIR [meson setup args...]
run_suite() {
  local dir=$1
  shift
  if [[ ! -f $dir/build.ninja ]]; then
    meson setup "$dir" "$@"
  else
    meson setup --reconfigure "$dir" "$@" >/dev/null
  fi
  meson compile -C "$dir" -j "$jobs"
  local rc=0
  meson test -C "$dir" --num-processes "$jobs" --print-errorlogs ${test_args[@]+"${test_args[@]}"} || rc=$?
  local counts
  counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    if t["result"] in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif t["result"] == "SKIP":
        skip += 1
        print("skipped:", t["name"], file=sys.stderr)
    else:
        bad += 1
print(ok, bad, skip)
PY
)
  read -r p f s <<<"$counts"
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  if [[ ${CI:-} == true ]] && ((s > 0)); then
    echo "CI=true: $s skipped test(s) count as failures"
    failed=$((failed + s))
  fi
  if ((rc != 0 && f == 0)); then failed=$((failed + 1)); fi
}

case $mode in
  release)
    run_suite build
    ;;
  sanitize)
    # The heavy end-to-end suites (suite "heavy": multi-mode veth beds, floods, every reload key,
    # real brokers, the separate control plane) run once, in the release build; every other test,
    # the lighter end-to-end ones included, runs here under the sanitizers too. Their compiled
    # binaries are not even built (-Dheavy_tests=false: minutes of an ASan build).
    test_args=(--no-suite heavy)
    # gcc 12's -Warray-bounds/-Wstringop-* report false positives once ASan
    # instruments the code (GCC PR 105762 family), and at -O1 -Wmaybe-uninitialized does inside
    # libstdc++'s std::regex compiler (ctrlplane/http_server.cc's routes); the release build keeps
    # them all as errors.
    # -O1 -g1 (what the sanitizers' own docs suggest; line tables are enough for their reports)
    # compiles 2-4x faster than debugoptimized's -O2 -g under ASan: the build was most of CI.
    run_suite build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbenchmarks=disabled -Dfuzzers=disabled -Dheavy_tests=false \
      "-Dcpp_args=-O1 -g1 -Wno-array-bounds -Wno-stringop-overflow -Wno-stringop-overread -Wno-maybe-uninitialized"
    ;;
  fuzz)
    # The libraries under test get coverage instrumentation and sanitizers too, not only the
    # fuzz entry points: otherwise libFuzzer is blind inside the decoders. The fuzzers link only
    # the pure core, so the packet plane (DPDK, eBPF, both planes' programs) is not built here.
    CC=clang CXX=clang++ run_suite build-fuzz -Dfuzzers=enabled -Dbenchmarks=disabled \
      -Dpacket_plane=disabled \
      -Dunit_tests=false -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
      -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
    ;;
  arm64)
    # The cross toolchain, qemu-user and the :arm64 -dev packages (Debian multiarch).
    ./tools/install-arm64-deps.sh
    start=$SECONDS
    # The pure core (no DPDK: -Dpacket_plane=disabled, see meson.build) for a generic ARMv8-A.
    run_suite build-arm64 --cross-file tools/cross/aarch64-linux-gnu.ini \
      -Dpacket_plane=disabled -Dmarch=armv8-a -Dbenchmarks=disabled -Dbuildtype=release
    echo "arm64: cross build and tests under qemu took $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
    ;;
  all)
    "$0" release && r1=0 || r1=$?
    "$0" sanitize && r2=0 || r2=$?
    "$0" fuzz && r3=0 || r3=$?
    exit $((r1 | r2 | r3))
    ;;
  *)
    echo "usage: $0 [release|sanitize|fuzz|all|arm64]" >&2
    exit 2
    ;;
esac

echo "$skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
