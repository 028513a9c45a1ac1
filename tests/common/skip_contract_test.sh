#!/usr/bin/env bash
# A skipped test is not a pass (issue 14 item 6): the shared GoogleTest main exits 77 (meson's
# SKIP, counted on its own line by tools/test.sh) when a test skipped and none failed, 1 when
# CI=true, 0 only when everything ran and passed, and a failure stays a failure.
#   skip_contract_test.sh SKIP_PROBE
# In a cross build the probe runs under meson's exe wrapper (MESON_EXE_WRAPPER, qemu-user).
set -uo pipefail
probe=$1
read -r -a wrapper <<<"${MESON_EXE_WRAPPER:-}"
fail=0
expect() {  # expect RC ENV... -- ARGS...
  local want=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  env -u CI "${envs[@]}" "${wrapper[@]}" "$probe" "$@" >/dev/null 2>&1
  local rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL: ${envs[*]} probe $* exited $rc, want $want" >&2
    fail=1
  else
    echo "ok: ${envs[*]:-(no CI)} probe $* exited $rc"
  fi
}
expect 0 -- --gtest_filter=SkipProbe.Passes
expect 77 -- --gtest_filter=SkipProbe.Skips
expect 77 -- '--gtest_filter=SkipProbe.Passes:SkipProbe.Skips'
expect 1 CI=true -- --gtest_filter=SkipProbe.Skips
expect 0 CI=true -- --gtest_filter=SkipProbe.Passes
expect 1 CI=false -- --gtest_filter=SkipProbe.Fails
expect 1 -- '--gtest_filter=SkipProbe.Skips:SkipProbe.Fails'
# CI set to anything but "true" is a developer's run: the skip is reported, not failed.
expect 77 CI=1 -- --gtest_filter=SkipProbe.Skips
exit $fail
