#!/usr/bin/env bash
# The `evolink` command line as a contract: exit codes, what goes to stdout
# and stderr, Ctrl-C and resume, callbacks, and the key never printed.
# Runs against `evolink fake-server` in another process, over TLS.
# Usage: test_cli.sh PATH/TO/evolink
set -uo pipefail

evolink="$(readlink -f "$1")"
tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
check() { # check NAME CONDITION...
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok    $name"
  else failed=$((failed + 1)); echo "FAIL  $name"; echo "  stdout: $(head -c 600 "$tmp/out")"; echo "  stderr: $(head -c 600 "$tmp/err")"; fi
}
run() { # run ARGS... : runs evolink, keeps stdout/stderr, sets $rc
  "$evolink" "$@" > "$tmp/out" 2> "$tmp/err"; rc=$?
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

secret="sk-evolink-cli-SECRET-42"
"$evolink" fake-server --port 0 --ca-out "$tmp/ca.pem" --key "$secret" > "$tmp/server.out" 2> "$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q EVOLINK_BASE_URL "$tmp/server.out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^EVOLINK_BASE_URL=//p' "$tmp/server.out")"
[[ -n "$base" ]] || { echo "fake server did not start"; cat "$tmp/server.err"; exit 1; }
export EVOLINK_API_KEY="$secret" EVOLINK_BASE_URL="$base" EVOLINK_CA_FILE="$tmp/ca.pem"

run; check "no command: exit 2" test "$rc" -eq 2
run help; check "help: exit 0" test "$rc" -eq 0
run image; check "image without --prompt: exit 2" test "$rc" -eq 2
run image --prompt x --bogus; check "unknown option: exit 2" test "$rc" -eq 2
run image --prompt x --size 10x10
check "invalid size: exit 2" test "$rc" -eq 2
check "invalid size: names the field and what is allowed" grep -q "size.*allowed" "$tmp/err"
run video --prompt x --image https://example.com/a.png --duration 7
check "invalid duration: exit 2" test "$rc" -eq 2

run image --prompt "a red fox" --poll 0.05
check "image: exit 0" test "$rc" -eq 0
check "image: one result URL on stdout" test "$(grep -c "^$base/results/" "$tmp/out")" -eq 1
check "image: task id on stderr" grep -q "^task: task-unified-" "$tmp/err"
check "image: plain status lines when not a terminal" grep -q "^status: processing" "$tmp/err"
image_id="$(sed -n 's/^task: //p' "$tmp/err")"

run image --prompt "two foxes" --n 2 --size 1024x1024 --no-prompt-extend --poll 0.05 --json
check "image --json: exit 0" test "$rc" -eq 0
check "image --json: the final task as JSON" python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert t["status"]=="completed" and len(t["results"])==2' "$tmp/out"

run video --prompt "it runs" --image "$base/results/x/0.png" --duration 5 --quality 1080p --poll 0.05
check "video: exit 0" test "$rc" -eq 0
check "video: an mp4 URL" grep -q '\.mp4$' "$tmp/out"

run image --prompt "x [fail:content_policy_violation]" --poll 0.05
check "failed task: exit 4" test "$rc" -eq 4
check "failed task: the task error code on stderr" grep -q content_policy_violation "$tmp/err"
run image --prompt "x [fail:service_error]" --poll 0.05
check "retryable failure: says a new attempt may succeed" grep -q "may succeed" "$tmp/err"
run image --prompt "x [cancel]" --poll 0.05
check "cancelled task: exit 4" test "$rc" -eq 4

run image --prompt "x [slow]" --poll 0.05 --timeout 0.5
check "deadline: exit 5" test "$rc" -eq 5
check "deadline: says how to resume" grep -q "evolink wait task-unified-" "$tmp/err"

run status "$image_id"
check "status: exit 0" test "$rc" -eq 0
check "status: the task JSON" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["id"]==sys.argv[2]' "$tmp/out" "$image_id"
run status 'not/an id'; check "status of a malformed id: exit 2" test "$rc" -eq 2
run status task-unified-1-abcdefgh; check "status of an unknown task: exit 3" test "$rc" -eq 3
run wait "$image_id" --poll 0.05
check "wait on a finished task: exit 0 and its URL" test "$rc" -eq 0 -a "$(grep -c "^$base/results/$image_id" "$tmp/out")" -eq 1

EVOLINK_API_KEY="sk-wrong-key-SECRET-77" "$evolink" status "$image_id" > "$tmp/out" 2> "$tmp/err"; rc=$?
check "wrong key: exit 3" test "$rc" -eq 3
check "wrong key: 401 reported" grep -q "401" "$tmp/err"
check "wrong key: the key is not printed" bash -c "! grep -q SECRET-77 '$tmp/out' '$tmp/err'"
env -u EVOLINK_API_KEY "$evolink" status "$image_id" > "$tmp/out" 2> "$tmp/err"; rc=$?
check "no key: exit 2" test "$rc" -eq 2
EVOLINK_BASE_URL="https://127.0.0.1:1" "$evolink" status "$image_id" > "$tmp/out" 2> "$tmp/err"; rc=$?
check "nothing listening: exit 3" test "$rc" -eq 3
env -u EVOLINK_CA_FILE "$evolink" status "$image_id" > "$tmp/out" 2> "$tmp/err"; rc=$?
check "untrusted certificate: exit 3" test "$rc" -eq 3 -a "$(grep -c 'TLS\|certificate' "$tmp/err")" -ge 1

# Ctrl-C cancels the wait (not the task) and says how to resume.
"$evolink" image --prompt "x [slow]" --poll 0.05 > "$tmp/out" 2> "$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "^task: " "$tmp/err" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
kill -INT "$pid"; wait "$pid"; rc=$?
check "Ctrl-C: exit 130" test "$rc" -eq 130
check "Ctrl-C: prints the id to resume" grep -q "Resume with: evolink wait task-unified-" "$tmp/err"
slow_id="$(sed -n 's/^task: //p' "$tmp/err")"
run wait "$slow_id" --poll 0.05 --timeout 0.3
check "resumed wait: exit 5 (still running)" test "$rc" -eq 5

# A callback ends the wait long before the (30 s) poll would.
port="$(free_port)"
start=$SECONDS
run image --prompt "by callback" --poll 30 --callback-listen "127.0.0.1:$port" --callback-public-url "http://127.0.0.1:$port"
check "callback: exit 0" test "$rc" -eq 0
check "callback: finished within seconds, not at the 30 s poll" test $((SECONDS - start)) -lt 10
run image --prompt x --callback-listen "127.0.0.1:$port"
check "callback flags go together: exit 2" test "$rc" -eq 2

# A journal keeps the task when the process dies: kill -9 mid-wait, then resume.
journal="$tmp/journal.jsonl"
"$evolink" image --prompt "kept across a crash" --poll 0.05 --journal "$journal" > "$tmp/out" 2> "$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "^task: " "$tmp/err" 2>/dev/null && break; sleep 0.05; done
kill -KILL "$pid"; wait "$pid" 2>/dev/null
crashed_id="$(sed -n 's/^task: //p' "$tmp/err")"
check "journal: the task id was recorded before the crash" grep -q "\"$crashed_id\"" "$journal"
run resume --journal "$journal" --poll 0.05
check "resume: exit 0" test "$rc" -eq 0
check "resume: the crashed task's result URL" grep -q "^$base/results/$crashed_id/" "$tmp/out"
run resume --journal "$journal" --poll 0.05
check "resume again: nothing left to resume" grep -q "nothing to resume" "$tmp/err"
run image --prompt "x [fail:service_error]" --poll 0.05 --journal "$journal"
run resume --journal "$journal"
check "a failed task is finished in the journal" grep -q "nothing to resume" "$tmp/err"
run image --prompt "x [slow]" --poll 0.05 --timeout 0.3 --journal "$journal"
run resume --journal "$journal" --poll 0.05 --timeout 0.3
check "resume of a task still running: exit 5" test "$rc" -eq 5
run resume; check "resume without --journal: exit 2" test "$rc" -eq 2

check "the fake server never logged the key" bash -c "! grep -q '$secret' '$tmp/server.err'"
echo
echo "$passed passed, $failed failed"
test "$failed" -eq 0
