#!/usr/bin/env bash
# Fuzzing that counts: runs every libFuzzer target for a fixed number of executions (default
# 10^7 each), starting from the checked-in seed corpora, and prints one Markdown row per target
# (executions, wall time, executions per second, edges covered, corpus growth, peak RSS) for
# docs/benchmarks.md. CI's bounded run (tools/test.sh fuzz) starts from the same corpora.
#
#   bench/fuzz_bench.sh [RUNS] [TARGET...]    e.g. bench/fuzz_bench.sh 10000000
#
# The build is the one tools/test.sh fuzz makes (build-fuzz/: clang, ASan+UBSan, the libraries
# under test instrumented too). The corpus grown by a run goes to a scratch directory, never into
# the checked-in seeds; a crash leaves its input in build-fuzz/bench-artifacts/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
if ! [[ $runs =~ ^[0-9]+$ ]] || ((runs < 1)); then
  echo "usage: $0 [RUNS] [TARGET...]  (RUNS: a positive number of executions per target)" >&2
  exit 2
fi

build=build-fuzz
if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzzers=enabled -Dbenchmarks=disabled \
    -Dpacket_plane=disabled -Dunit_tests=false -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
fi
meson compile -C "$build" >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/bench-artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "| target | seeds | executions | wall s | exec/s | edges (cov) | features (ft) | corpus after | peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
failed=0
for t in "${targets[@]}"; do
  exe=$build/tests/fuzz/$t
  seeds=tests/fuzz/corpus/$t
  if [[ ! -x $exe || ! -d $seeds ]]; then
    echo "$t: no such fuzz target (program $exe, seeds $seeds)" >&2
    failed=1
    continue
  fi
  grown=$scratch/$t
  mkdir -p "$grown"
  log=$scratch/$t.log
  start=$(date +%s.%N)
  rc=0
  "$exe" -runs="$runs" -print_final_stats=1 -artifact_prefix="$build/bench-artifacts/$t-" \
    "$grown" "$seeds" >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  if ((rc != 0)); then
    echo "$t: exit $rc after $(grep -c '' "$log") log lines; the input is in $build/bench-artifacts/" >&2
    tail -n 30 "$log" >&2
    failed=1
    continue
  fi
  python3 - "$t" "$log" "$start" "$end" "$(find "$seeds" -type f | wc -l)" \
    "$(find "$grown" -type f | wc -l)" <<'PY'
import re, sys
name, log, start, end, seeds, grown = sys.argv[1:]
text = open(log, errors="replace").read()
def stat(key):
    m = re.findall(r"stat::%s:\s+(\d+)" % key, text)
    return int(m[-1]) if m else 0
# The last status line (#N DONE / pulse) carries cov: and ft:.
cov = re.findall(r"cov: (\d+)", text)
ft = re.findall(r"ft: (\d+)", text)
execs = stat("number_of_executed_units")
wall = float(end) - float(start)
print("| %s | %s | %d | %.0f | %d | %s | %s | %s | %d |" % (
    name, seeds, execs, wall, execs / wall if wall > 0 else 0,
    cov[-1] if cov else "?", ft[-1] if ft else "?", int(seeds) + int(grown),
    stat("peak_rss_mb")))
PY
done
exit $failed
