#!/usr/bin/env bash
# Builds and runs the tiny program tests/consumers/main.cpp against evolink-cpp
# in the four ways a user can consume the library, each header-only and with
# separate compilation (`-compiled`: evolink-compiled, evolink::compiled, or
# a src.cpp that includes <evolink/src.hpp>):
#   meson            dependency('evolink') with evolink-cpp as a meson subproject
#                    (and `meson-kit`: dependency('evolink-testing'), the test kit compiled once)
#   cmake-subdir     add_subdirectory(<evolink-cpp>) + evolink::evolink
#   cmake-installed  `cmake --install` into a prefix + find_package(evolink CONFIG)
#   plain            g++ with a copy of include/ and the system libraries
#                    (and `plain-kit`: the test kit compiled once too, <evolink/testing/src.hpp>)
# Every build uses -Wall -Wextra -Werror. Each program must exit 0.
#
# usage: tests/consumers/run.sh [REPO_ROOT]   (default: the checkout holding this script)
# env:   CXX (default g++), KEEP_TMP=1 keeps the temporary directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${1:-$here/../..}" && pwd)"
cxx="${CXX:-g++}"
jobs=2

if [[ ! -f "$repo/include/evolink.hpp" ]]; then
  echo "run.sh: $repo does not look like evolink-cpp (no include/evolink.hpp)" >&2
  exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/evolink-consumers.XXXXXX")"
cleanup() {
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
cp -R "$here/main.cpp" "$here/meson" "$here/cmake-subdir" "$here/cmake-installed" "$here/plain" "$tmp/src/"

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

# (a) meson subproject --------------------------------------------------------
current=meson
mkdir -p "$tmp/src/meson/subprojects"
ln -s "$repo" "$tmp/src/meson/subprojects/evolink"
step "$tmp/meson.log" env CXX="$cxx" meson setup "$tmp/meson-build" "$tmp/src/meson" \
  --wrap-mode=nodownload --force-fallback-for=evolink \
  -Devolink:tests=false -Devolink:examples=false
step "$tmp/meson.log" meson compile -C "$tmp/meson-build" -j "$jobs"
run_program "$tmp/meson-build/consumer"
current=meson-compiled
run_program "$tmp/meson-build/consumer-compiled"
current=meson-kit
run_program "$tmp/meson-build/consumer-kit"

# (b) CMake add_subdirectory ---------------------------------------------------
current=cmake-subdir
step "$tmp/cmake-subdir.log" cmake -S "$tmp/src/cmake-subdir" -B "$tmp/cmake-subdir-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug -DEVOLINK_SOURCE_DIR="$repo"
step "$tmp/cmake-subdir.log" cmake --build "$tmp/cmake-subdir-build" -j "$jobs"
run_program "$tmp/cmake-subdir-build/app"
current=cmake-subdir-compiled
run_program "$tmp/cmake-subdir-build/app_compiled"

# (c) CMake install + find_package --------------------------------------------
current=cmake-installed
prefix="$tmp/prefix"
step "$tmp/cmake-installed.log" cmake -S "$repo" -B "$tmp/evolink-cmake-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_INSTALL_PREFIX="$prefix"
step "$tmp/cmake-installed.log" cmake --build "$tmp/evolink-cmake-build" -j "$jobs"
step "$tmp/cmake-installed.log" cmake --install "$tmp/evolink-cmake-build"
[[ -f "$prefix/include/evolink.hpp" ]] || fail "cmake --install did not install include/evolink.hpp"
step "$tmp/cmake-installed.log" cmake -S "$tmp/src/cmake-installed" -B "$tmp/cmake-installed-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
step "$tmp/cmake-installed.log" cmake --build "$tmp/cmake-installed-build" -j "$jobs"
[[ -n "$(find "$prefix" -name libevolink_compiled.a)" ]] || # lib/ or lib/<multiarch>/
  fail "cmake --install did not install libevolink_compiled.a"
run_program "$tmp/cmake-installed-build/app"
current=cmake-installed-compiled
run_program "$tmp/cmake-installed-build/app_compiled"

# (d) plain compiler command line ---------------------------------------------
current=plain
mkdir -p "$tmp/plain-include" "$tmp/plain-build"
cp -R "$repo/include/." "$tmp/plain-include/"
step "$tmp/plain.log" "$cxx" -std=c++20 -Wall -Wextra -Werror -I"$tmp/plain-include" \
  "$tmp/src/main.cpp" -o "$tmp/plain-build/app" \
  -lboost_json -lboost_url -lssl -lcrypto -pthread
run_program "$tmp/plain-build/app"

# (e) plain, separate compilation: src.cpp includes <evolink/src.hpp> -------
current=plain-compiled
printf '#include <evolink/src.hpp>\n' >"$tmp/plain-build/src.cpp"
step "$tmp/plain.log" "$cxx" -std=c++20 -Wall -Wextra -Werror -DEVOLINK_SEPARATE_COMPILATION -I"$tmp/plain-include" \
  "$tmp/src/main.cpp" "$tmp/plain-build/src.cpp" -o "$tmp/plain-build/app_compiled" \
  -lboost_json -lboost_url -lssl -lcrypto -pthread
run_program "$tmp/plain-build/app_compiled"

# (f) plain, the test kit compiled once too: testing_src.cpp includes
# <evolink/testing/src.hpp>, main.cpp sees only fake_server's declarations ---
current=plain-kit
printf '#include <evolink/testing/src.hpp>\n' >"$tmp/plain-build/testing_src.cpp"
step "$tmp/plain.log" "$cxx" -std=c++20 -Wall -Wextra -Werror -DEVOLINK_SEPARATE_COMPILATION \
  -DEVOLINK_TESTING_SEPARATE_COMPILATION -I"$tmp/plain-include" \
  "$tmp/src/main.cpp" "$tmp/plain-build/src.cpp" "$tmp/plain-build/testing_src.cpp" -o "$tmp/plain-build/app_kit" \
  -lboost_json -lboost_url -lssl -lcrypto -pthread
run_program "$tmp/plain-build/app_kit"
