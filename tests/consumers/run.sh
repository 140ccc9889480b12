#!/usr/bin/env bash
# Builds and runs the tiny client-only program tests/consumers/main.cpp against
# evolink-cpp in the four ways a user can consume the library, each header-only
# and with separate compilation (`-compiled`: evolink-compiled,
# evolink::compiled, or a src.cpp that includes <evolink/src.hpp>):
#   meson            dependency('evolink') with evolink-cpp as a meson subproject
#   cmake-subdir     add_subdirectory(<evolink-cpp>) + evolink::evolink
#   cmake-installed  `cmake --install` into a prefix + find_package(evolink CONFIG)
#   plain            g++ with a copy of include/ and the system libraries
# The client-only programs talk over verified TLS to `evolink fake-server` (the
# repository's command line, from its build) running in another process. The
# test kit is consumed by kit_main.cpp, which starts the fake server in-process:
#   meson-kit        dependency('evolink-testing'): the kit compiled once
#   plain-kit        the kit compiled once too, <evolink/testing/src.hpp>
#   plain-kit-header-only  the library and the kit both header-only
# Where hiredis is installed (pkg-config finds it), the Redis part too, with
# redis_main.cpp (a redis_connection to a closed port must fail cleanly; no
# Redis server needed):
#   meson-redis      dependency('evolink-redis'), header-only
#   cmake-installed-redis  find_package(evolink CONFIG COMPONENTS redis) + evolink::redis
#   cmake-installed-redis-compiled  the same with evolink::redis_compiled
# Every build uses -Wall -Wextra -Werror, and no optimisation or debug flags
# (meson's buildtype plain, CMake's empty build type, as the plain g++ lines):
# these builds check how the library is consumed, not how it is debugged.
# Each program must exit 0.
#
# usage: tests/consumers/run.sh [REPO_ROOT]   (default: the checkout holding this script)
# env:   CXX (default g++), KEEP_TMP=1 keeps the temporary directory,
#        EVOLINK_CLI: the `evolink` executable whose fake server the client-only
#        programs use (default: REPO_ROOT/build/examples/evolink, as scripts/test builds it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${1:-$here/../..}" && pwd)"
cxx="${CXX:-g++}"
jobs=2

if [[ ! -f "$repo/include/evolink.hpp" ]]; then
  echo "run.sh: $repo does not look like evolink-cpp (no include/evolink.hpp)" >&2
  exit 2
fi
cli="${EVOLINK_CLI:-$repo/build/examples/evolink}"
if [[ ! -x "$cli" ]]; then
  echo "run.sh: no $cli, whose fake server the consumers talk to: build the repository first" \
       "(scripts/test, or meson compile -C build), or set EVOLINK_CLI" >&2
  exit 2
fi
unset https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

tmp="$(mktemp -d "${TMPDIR:-/tmp}/evolink-consumers.XXXXXX")"
plain_pid=""
fake_pid=""
cleanup() {
  if [[ -n "$fake_pid" ]]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
  if [[ -n "$plain_pid" ]] && kill -0 "$plain_pid" 2>/dev/null; then # a failure in (a)-(c): stop (d)-(g)
    kill "$plain_pid" 2>/dev/null || true # its running compiler, if any, fails on the removed directory
    wait "$plain_pid" 2>/dev/null || true
  fi
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    echo "run.sh: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

# Copy the consumer projects (they refer to ../main.cpp) out of the checkout,
# so nothing is written into the repository.
mkdir -p "$tmp/src"
cp -R "$here/main.cpp" "$here/kit_main.cpp" "$here/redis_main.cpp" "$here/meson" "$here/cmake-subdir" "$here/cmake-installed" "$here/plain" "$tmp/src/"

current=""
log=""
fail() {
  echo "consumer $current: FAILED ($1)" >&2
  if [[ -n "$log" && -f "$log" ]]; then
    echo "---- last lines of $log ----" >&2
    tail -n 60 "$log" >&2
    echo "----" >&2
  fi
  exit 1
}

# step LOGFILE CMD...: runs CMD with its output appended to LOGFILE.
step() {
  log="$1"; shift
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1 || fail "exit $? from: $*"
}

# run_program EXE: runs the built consumer; it must print a task id and exit 0.
run_program() {
  local exe="$1" rc=0
  log="$tmp/$current.run.log"
  timeout 60 "$exe" >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then fail "program $exe exited with $rc"; fi
  grep -q '^submitted ' "$log" || fail "program printed no 'submitted <id>' line"
  echo "consumer $current: ok"
}

# run_redis_program EXE: runs a built Redis consumer; it must say Redis is
# unreachable (redis_errc::unreachable) and exit 0.
run_redis_program() {
  local exe="$1" rc=0
  log="$tmp/$current.run.log"
  [[ -x "$exe" ]] || fail "no $exe: the Redis consumer was not built although hiredis is installed"
  timeout 60 "$exe" >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then fail "program $exe exited with $rc"; fi
  grep -q '^redis: ' "$log" || fail "program printed no 'redis: <error>' line"
  echo "consumer $current: ok"
}

# The Redis consumers run where hiredis is installed (as meson's `redis`
# option and CMake's EVOLINK_REDIS=AUTO find it).
redis=0
if pkg-config --exists hiredis 2>/dev/null; then redis=1; fi

# (d) plain compiler command line, (e) separate compilation: src.cpp includes
# <evolink/src.hpp>, compiled once, (f) the test kit compiled once too:
# testing_src.cpp includes <evolink/testing/src.hpp>, and kit_main.cpp sees
# only fake_server's declarations, (g) kit_main.cpp with the library and the
# kit header-only. Runs beside (a)-(c) (see the end): one compiler
# at a time, while the meson and CMake builds use the other core.
plain_consumers() {
  local inc="$tmp/plain-include" out="$tmp/plain-build"
  local cc=("$cxx" -std=c++20 -Wall -Wextra -Werror -I"$inc")
  local sep=(-DEVOLINK_SEPARATE_COMPILATION) kit=(-DEVOLINK_SEPARATE_COMPILATION -DEVOLINK_TESTING_SEPARATE_COMPILATION)
  local link=(-lboost_json -lboost_url -lssl -lcrypto -pthread)
  mkdir -p "$inc" "$out"
  cp -R "$repo/include/." "$inc/"
  printf '#include <evolink/src.hpp>\n' >"$out/src.cpp"
  printf '#include <evolink/testing/src.hpp>\n' >"$out/testing_src.cpp"

  current=plain
  step "$tmp/plain.log" "${cc[@]}" "$tmp/src/main.cpp" -o "$out/app" "${link[@]}"
  run_program "$out/app"

  current=plain-compiled
  step "$tmp/plain.log" "${cc[@]}" "${sep[@]}" -c "$out/src.cpp" -o "$out/src.o"
  step "$tmp/plain.log" "${cc[@]}" "${sep[@]}" -c "$tmp/src/main.cpp" -o "$out/main_compiled.o"
  step "$tmp/plain.log" "${cc[@]}" "$out/main_compiled.o" "$out/src.o" -o "$out/app_compiled" "${link[@]}"
  run_program "$out/app_compiled"

  current=plain-kit
  step "$tmp/plain.log" "${cc[@]}" "${kit[@]}" -c "$out/testing_src.cpp" -o "$out/testing_src.o"
  step "$tmp/plain.log" "${cc[@]}" "${kit[@]}" -c "$tmp/src/kit_main.cpp" -o "$out/main_kit.o"
  step "$tmp/plain.log" "${cc[@]}" "$out/main_kit.o" "$out/src.o" "$out/testing_src.o" -o "$out/app_kit" "${link[@]}"
  run_program "$out/app_kit"

  current=plain-kit-header-only
  step "$tmp/plain.log" "${cc[@]}" "$tmp/src/kit_main.cpp" -o "$out/app_kit_header_only" "${link[@]}"
  run_program "$out/app_kit_header_only"
}

# The fake EvoLink server of the client-only programs: its export lines
# (EVOLINK_BASE_URL, EVOLINK_CA_FILE, EVOLINK_API_KEY...) go into the environment.
"$cli" fake-server --port 0 --ca-out "$tmp/fake-ca.pem" >"$tmp/fake.env" 2>"$tmp/fake.err" &
fake_pid=$!
for _ in $(seq 300); do
  [[ $(grep -c '^export EVOLINK_' "$tmp/fake.env") -ge 4 ]] && break
  kill -0 "$fake_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ $(grep -c '^export EVOLINK_' "$tmp/fake.env") -lt 4 ]]; then
  echo "run.sh: $cli fake-server did not start: $(cat "$tmp/fake.err")" >&2
  exit 1
fi
# shellcheck disable=SC1091
source "$tmp/fake.env"

plain_consumers >"$tmp/plain.out" 2>&1 &
plain_pid=$!

# (a) meson subproject --------------------------------------------------------
current=meson
mkdir -p "$tmp/src/meson/subprojects"
ln -s "$repo" "$tmp/src/meson/subprojects/evolink"
step "$tmp/meson.log" env CXX="$cxx" meson setup "$tmp/meson-build" "$tmp/src/meson" \
  --wrap-mode=nodownload --force-fallback-for=evolink --buildtype=plain \
  -Devolink:tests=false -Devolink:examples=false
step "$tmp/meson.log" meson compile -C "$tmp/meson-build" -j "$jobs"
run_program "$tmp/meson-build/consumer"
current=meson-compiled
run_program "$tmp/meson-build/consumer-compiled"
current=meson-kit
run_program "$tmp/meson-build/consumer-kit"
if [[ $redis == 1 ]]; then
  current=meson-redis
  run_redis_program "$tmp/meson-build/consumer-redis"
fi

# (b) CMake add_subdirectory ---------------------------------------------------
current=cmake-subdir
step "$tmp/cmake-subdir.log" cmake -S "$tmp/src/cmake-subdir" -B "$tmp/cmake-subdir-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE= -DEVOLINK_SOURCE_DIR="$repo"
step "$tmp/cmake-subdir.log" cmake --build "$tmp/cmake-subdir-build" -j "$jobs"
run_program "$tmp/cmake-subdir-build/app"
current=cmake-subdir-compiled
run_program "$tmp/cmake-subdir-build/app_compiled"

# (c) CMake install + find_package --------------------------------------------
current=cmake-installed
prefix="$tmp/prefix"
redis_on=OFF redis_build=AUTO # with hiredis: the package must have the Redis part, and the consumer asks for it
if [[ $redis == 1 ]]; then redis_on=ON redis_build=ON; fi
step "$tmp/cmake-installed.log" cmake -S "$repo" -B "$tmp/evolink-cmake-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_INSTALL_PREFIX="$prefix" -DEVOLINK_REDIS="$redis_build"
step "$tmp/cmake-installed.log" cmake --build "$tmp/evolink-cmake-build" -j "$jobs"
step "$tmp/cmake-installed.log" cmake --install "$tmp/evolink-cmake-build"
[[ -f "$prefix/include/evolink.hpp" ]] || fail "cmake --install did not install include/evolink.hpp"
step "$tmp/cmake-installed.log" cmake -S "$tmp/src/cmake-installed" -B "$tmp/cmake-installed-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE= -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DEVOLINK_CONSUMER_REDIS="$redis_on"
step "$tmp/cmake-installed.log" cmake --build "$tmp/cmake-installed-build" -j "$jobs"
[[ -n "$(find "$prefix" -name libevolink_compiled.a)" ]] || # lib/ or lib/<multiarch>/
  fail "cmake --install did not install libevolink_compiled.a"
run_program "$tmp/cmake-installed-build/app"
current=cmake-installed-compiled
run_program "$tmp/cmake-installed-build/app_compiled"
if [[ $redis == 1 ]]; then
  current=cmake-installed-redis
  [[ -n "$(find "$prefix" -name libevolink_redis_compiled.a)" ]] ||
    fail "cmake --install did not install libevolink_redis_compiled.a"
  run_redis_program "$tmp/cmake-installed-build/app_redis"
  current=cmake-installed-redis-compiled
  run_redis_program "$tmp/cmake-installed-build/app_redis_compiled"
fi


# (d)-(g), started before (a): their lines, then their status.
plain_rc=0
wait "$plain_pid" || plain_rc=$?
cat "$tmp/plain.out"
exit "$plain_rc"
