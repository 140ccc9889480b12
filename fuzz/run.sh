#!/usr/bin/env bash
# Builds the libFuzzer targets fuzz/fuzz_*.cpp with clang++ (ASan + UBSan) and
# runs each one for SECONDS (default 20) on a copy of its seed corpus
# fuzz/corpus/<target>/, so the repository's corpus is never modified.
#
#   fuzz/run.sh [SECONDS]
#
# Environment:
#   FUZZ_BUILD_DIR   build directory (default build-fuzz/ at the repository root)
#   FUZZ_TARGETS     space-separated target names to run (default: all)
#   CXX              compiler (default clang++; must support -fsanitize=fuzzer)
#   FUZZ_JOBS        builds and fuzzers run at once (default: nproc)
#
# Prints one line per target, "fuzz <name>: ok (<runs> runs)". Exits
# non-zero when a target fails to build (at once) or when any target finds a
# crash, leak, timeout or out-of-memory (after running the others). The input that failed is kept under
# $FUZZ_BUILD_DIR/artifacts/<name>/ and shown in hex with the log's tail;
# each target's libFuzzer log is $FUZZ_BUILD_DIR/logs/<name>.log.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: fuzz/run.sh [SECONDS]" >&2
  exit 2
fi

build_dir="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"
cxx="${CXX:-clang++}"
# A C++ compiler variable pointing at g++ (as CI sets for the gcc build)
# cannot build fuzzers: fall back to clang++.
if ! "$cxx" --version 2>/dev/null | grep -qi clang; then cxx=clang++; fi
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: $cxx not found (install clang and libclang-rt-14-dev: scripts/setup)" >&2
  exit 1
fi

# -fno-sanitize=function: clang 14 cannot emit UBSan's function-type check
# for coroutine functions ("error: Cannot represent a difference across
# sections", llvm/llvm-project#49689); the receiver's server side is coroutines.
cxxflags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function
          -fno-sanitize-recover=undefined -fno-omit-frame-pointer -I "$root/include")
libs=(-lboost_json -lboost_url -lssl -lcrypto -pthread)

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

mkdir -p "$build_dir"

targets=()
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  for src in fuzz/fuzz_*.cpp; do
    targets+=("$(basename "$src" .cpp)")
  done
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz: no targets (fuzz/fuzz_*.cpp)" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/evolink-fuzz.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# JOBS builds, then JOBS fuzzers, at once (CI machines have 2 cores; each
# fuzzer is one process on one core, so its budget is the same either way).
jobs="${FUZZ_JOBS:-$(nproc)}"
running=0
status=0
# spawn CMD...: runs CMD in the background, at most $jobs at once; a failure
# sets status=1.
spawn() {
  if ((running >= jobs)); then
    wait -n || status=1
    running=$((running - 1))
  fi
  "$@" &
  running=$((running + 1))
}
wait_all() {
  while ((running > 0)); do
    wait -n || status=1
    running=$((running - 1))
  done
}

# build_one NAME: a binary newer than its source, every header under include/
# and this script is up to date.
build_one() {
  local name="$1" src="fuzz/$1.cpp" bin="$build_dir/$1" start=$SECONDS
  if [[ -x "$bin" && "$bin" -nt "$src" && "$bin" -nt fuzz/run.sh ]] &&
     [[ -z "$(find include -type f -newer "$bin" -print -quit)" ]]; then
    echo "fuzz $name: build up to date"
    return 0
  fi
  if ! "$cxx" "${cxxflags[@]}" "$src" -o "$bin.tmp" "${libs[@]}" >"$tmp/$name.build.log" 2>&1; then
    cat "$tmp/$name.build.log" >&2
    rm -f "$bin.tmp"
    echo "fuzz $name: BUILD FAILED" >&2
    return 1
  fi
  mv -f "$bin.tmp" "$bin"
  echo "fuzz $name: built in $((SECONDS - start))s"
}

for name in "${targets[@]}"; do
  if [[ ! -f "fuzz/$name.cpp" ]]; then
    echo "fuzz: no such target: fuzz/$name.cpp" >&2
    exit 1
  fi
done
for name in "${targets[@]}"; do spawn build_one "$name"; done
wait_all
((status == 0)) || exit 1

# run_one NAME: fuzzes NAME for $seconds; 1 when it found something.
run_one() {
  local name="$1"
  local bin="$build_dir/$name" corpus artifacts args log marker rc runs crashes
  corpus="$tmp/$name.corpus"
  mkdir -p "$corpus"
  if [[ -d "fuzz/corpus/$name" ]]; then
    cp -R "fuzz/corpus/$name/." "$corpus/"
  fi
  artifacts="$build_dir/artifacts/$name"
  mkdir -p "$artifacts"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [[ -f "fuzz/$name.dict" ]] && args+=(-dict="fuzz/$name.dict")
  log="$build_dir/logs/$name.log"
  mkdir -p "$build_dir/logs"
  marker="$tmp/$name.marker"
  touch "$marker"
  rc=0
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  crashes=()
  while IFS= read -r -d '' f; do crashes+=("$f"); done < <(find "$artifacts" -type f -newer "$marker" -print0)
  if ((rc != 0)) || ((${#crashes[@]} > 0)); then
    echo "fuzz $name: FAILED (exit $rc, ${runs:-?} runs)" >&2
    echo "---- last lines of the log ----" >&2
    tail -n 60 "$log" >&2
    for f in "${crashes[@]}"; do
      echo "---- failing input: $f ($(stat -c %s "$f") bytes) ----" >&2
      od -A x -t x1z -v "$f" | head -n 40 >&2
      echo "reproduce: $bin $f" >&2
    done
    echo "full log: $log" >&2
    return 1
  fi
  echo "fuzz $name: ok (${runs:-?} runs)"
}

for name in "${targets[@]}"; do spawn run_one "$name"; done
wait_all
exit "$status"
