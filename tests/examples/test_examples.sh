#!/usr/bin/env bash
# Runs one of the graded examples (examples/cpp20_*.cpp) against the built-in
# fake server and checks what it prints, not only its exit code. Also checks
# that --real without EVOLINK_API_KEY is a one-line error, exit 2 (before any
# request), and that the fake server's key is never printed.
# Usage: test_examples.sh NAME PATH/TO/EXAMPLE
set -uo pipefail

name="$1"
example="$(readlink -f "$2")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
unset EVOLINK_API_KEY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

failed=0
expect() { # expect REGEX: a line of the output matches it
  if grep -Eq -- "$1" out; then echo "ok    $name: /$1/"
  else failed=1; echo "FAIL  $name: no line matches /$1/"; fi
}
check() { # check WHAT COMMAND...: the command succeeds
  local what="$1"; shift
  if "$@"; then echo "ok    $name: $what"
  else failed=1; echo "FAIL  $name: $what"; fi
}
count() { # count N REGEX: exactly N lines match
  local n; n=$(grep -Ec -- "$2" out)
  if [[ "$n" == "$1" ]]; then echo "ok    $name: $1 x /$2/"
  else failed=1; echo "FAIL  $name: $n lines match /$2/, expected $1"; fi
}

"$example" --real > out 2> err; rc=$?
if [[ $rc == 2 && ! -s out && $(wc -l < err) == 1 ]] && grep -q "EVOLINK_API_KEY" err; then echo "ok    $name: --real without a key"
else failed=1; echo "FAIL  $name: --real without a key: exit $rc, stderr: $(cat err)"; fi

timeout 120 "$example" > out 2> err; rc=$?
if [[ $rc == 0 ]]; then echo "ok    $name: exit 0"
else failed=1; echo "FAIL  $name: exit $rc"; fi
if grep -q 'evk-test-' out err; then failed=1; echo "FAIL  $name: the API key was printed"
else echo "ok    $name: the API key not printed"; fi
url='https://127\.0\.0\.1:[0-9]+/results/task-unified-[0-9]+-[a-z0-9]{8}/0'
case "$name" in
  cpp20_01_first_image)
    expect '^created task-unified-[0-9]+-[a-z0-9]{8}$'
    expect '^  processing 50%$'
    expect '^completed:$'
    expect "^$url\.png\$"
    ;;
  cpp20_02_video_from_file)
    expect '^checked and uploaded example-input\.png, created task-unified-'
    expect '^  completed 100%$'
    expect '^  downloaded 50%$'
    expect '^  downloaded 100%$'
    expect '^saved videos/task-unified-[0-9]+-[a-z0-9]{8}-0\.mp4 \([0-9]+ bytes\)$'
    check "one video on disk" test "$(ls videos/*.mp4 2>/dev/null | wc -l)" = 1
    ;;
  cpp20_03_callbacks)
    expect '^created task-unified-'
    expect '^completed after [0-9]+ ms, callbacks received: 1$'
    expect '^the callback won: polling.s first read was due after 12 s$'
    expect '^reads of the task: 1 \(the confirmation\)$'
    ;;
  cpp20_04_many_tasks)
    expect '^100 tasks, at most 10 at a time: 80 completed, 10 failed, 10 timed out$'
    expect '^10 unfinished in many_tasks\.journal '
    check "100 tasks journaled" test "$(grep -c '"op":"add"' many_tasks.journal)" = 100
    ;;
  cpp20_05_no_coroutines)
    count 1 '^callback: completed task-unified-'
    count 1 '^callback: saved no_coroutines/task-unified-[0-9]+-[a-z0-9]{8}-0\.png$'
    count 3 '^thread [123]: completed, saved no_coroutines/task-unified-[0-9]+-[a-z0-9]{8}-0\.png$'
    check "four images on disk" test "$(ls no_coroutines/*.png 2>/dev/null | wc -l)" = 4
    ;;
  cpp20_06_embedded_server)
    expect '^POST /images: 202 task-unified-[0-9]+-[a-z0-9]{8}$'
    count 1 '^callback on this server: 200$'
    expect '^wait ended: completed, callbacks received: 1$'
    expect '^client shut down, 0 operation\(s\) were running$'
    expect '^io_context::run returned$'
    check "202 before the end of the wait" \
      awk '/^POST \/images: 202 /{p=NR} /^wait ended: /{w=NR} END{exit !(p && w && p < w)}' out
    ;;
  *) echo "unknown example $name"; exit 1 ;;
esac
if [[ $failed != 0 ]]; then echo "--- stdout:"; cat out; echo "--- stderr:"; cat err; fi
exit $failed
