#!/usr/bin/env bash
# The `evolink` command line as a contract: exit codes, what goes to stdout
# and stderr, Ctrl-C and resume, callbacks, local images (--image PATH) and
# downloads (--out DIR), and the key never printed.
# Runs against `evolink fake-server` in another process, over TLS. Also: help,
# usage errors, messages in the user's terms, the progress ticker, the demo
# (the built-in fake unless --real, which asks first).
# Usage: test_cli.sh PATH/TO/evolink
set -uo pipefail

evolink="$(readlink -f "$1")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
server_pid=""
proxy_pid=""
# Proxies are this script's to set (the HTTPS_PROXY checks below).
unset https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
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
run() { # run ARGS... : runs evolink, keeps stdout/stderr, sets $rc; every output also goes to all.log
  "$evolink" "$@" > "$tmp/out" 2> "$tmp/err"; rc=$?
  cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
}
run_env() { # run_env ENV-ARGS... EVOLINK-ARGS...: like run, under `env ENV-ARGS... evolink EVOLINK-ARGS...`
  local e=()
  while [[ "$1" == -u || "$1" == *=* ]]; do
    if [[ "$1" == -u ]]; then e+=("$1" "$2"); shift 2; else e+=("$1"); shift; fi
  done
  env "${e[@]}" "$evolink" "$@" > "$tmp/out" 2> "$tmp/err"; rc=$?
  cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
}
on_tty() { # on_tty COMMAND...: runs COMMAND in $work on a terminal (stdin is passed on), output in $tmp/out
  (cd "$work" && python3 -c 'import os,pty,sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))' "$@") > "$tmp/out" 2> "$tmp/err"; rc=$?
  cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
}
lines() { wc -l < "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

secret="sk-evolink-cli-SECRET-42"
"$evolink" fake-server --port 0 --ca-out "$tmp/ca.pem" --key "$secret" > "$tmp/server.out" 2> "$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q EVOLINK_FILES_BASE_URL "$tmp/server.out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^\(export \)\{0,1\}EVOLINK_BASE_URL=//p' "$tmp/server.out")"
files_base="$(sed -n 's/^\(export \)\{0,1\}EVOLINK_FILES_BASE_URL=//p' "$tmp/server.out")"
[[ -n "$base" ]] || { echo "fake server did not start"; cat "$tmp/server.err"; exit 1; }
export EVOLINK_API_KEY="$secret" EVOLINK_BASE_URL="$base" EVOLINK_CA_FILE="$tmp/ca.pem"

run; check "no command: exit 2" test "$rc" -eq 2
check "no command: one line and where help is" test "$(lines "$tmp/err")" -eq 2 -a "$(tail -1 "$tmp/err")" = "try 'evolink --help'"
run help; check "help: exit 0" test "$rc" -eq 0
check "help: lists fake-server, the way without an account" grep -q "evolink fake-server" "$tmp/out"
for how in "image --help" "help image" "image -h" "image --prompt x --help"; do
  run $how
  check "$how: exit 0, the image command's help on stdout" test "$rc" -eq 0 -a "$(grep -c -- '--size WxH' "$tmp/out")" -ge 1 -a "$(grep -c -- '--duration\|--port' "$tmp/out")" -eq 0
done
meson_version="$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$root/meson.build" | head -1)"
for how in --version -V; do
  run $how
  check "$how: exit 0, the version of meson.build" test "$rc" -eq 0 -a "$(cat "$tmp/out")" = "evolink $meson_version"
done
check "CMakeLists.txt has the same version" grep -q "VERSION $meson_version\$" "$root/CMakeLists.txt"
run image; check "image without --prompt: exit 2" test "$rc" -eq 2
run image --prompt x --bogus; check "unknown option: exit 2" test "$rc" -eq 2
run image --promt x
check "usage error: exit 2, one line and the command's help hint (not the whole usage)" test "$rc" -eq 2 -a "$(lines "$tmp/err")" -eq 2 -a "$(tail -1 "$tmp/err")" = "try 'evolink image --help'"
check "usage error: a close option: did you mean --prompt?" grep -qx "evolink: unknown option --promt; did you mean --prompt?" "$tmp/err"
run imgae --prompt x
check "unknown command: did you mean image?" test "$rc" -eq 2 -a "$(grep -c "did you mean image?" "$tmp/err")" -eq 1
run status x --port 1
check "an option of another command: named, exit 2" test "$rc" -eq 2 -a "$(grep -c -- "--port is not an option of status" "$tmp/err")" -eq 1
run image --prompt x --size 10x10
check "invalid size: exit 2" test "$rc" -eq 2
check "invalid size: names the field and what is allowed" grep -q "size.*allowed" "$tmp/err"
run image --prompt x --n 7
check "local check: exit 2" test "$rc" -eq 2
check "local check: with the flag, not as a server error" grep -q "^evolink: --n: .*7.*allowed: 1 to 4" "$tmp/err"
check "local check: no server error words, the field named once" test "$(grep -c 'invalid_request_error\|invalid_parameter\|param:' "$tmp/err")" -eq 0 -a "$(grep -o 'n: ' "$tmp/err" | wc -l)" -eq 1
run video --prompt x --image https://example.com/a.png --duration 7
check "invalid duration: exit 2" test "$rc" -eq 2

run image --prompt "a red fox" --poll 0.05
check "image: exit 0" test "$rc" -eq 0
check "image: one result URL on stdout" test "$(grep -c "^$base/results/" "$tmp/out")" -eq 1
check "image: task id on stderr" grep -q "^task: task-unified-" "$tmp/err"
check "image: plain status lines when not a terminal" grep -q "^status: processing" "$tmp/err"
check "image: status lines carry the elapsed time" grep -q "^status: processing [0-9]*% ([0-9]*:[0-9][0-9])$" "$tmp/err"
image_id="$(sed -n 's/^task: //p' "$tmp/err")"

run image --prompt "two foxes" --n 2 --size 1024x1024 --no-prompt-extend --poll 0.05 --json
check "image --json: exit 0" test "$rc" -eq 0
check "image --json: the final task as JSON" python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert t["status"]=="completed" and len(t["results"])==2' "$tmp/out"
check "image --json: whole numbers as integers (30, not 3E1)" python3 -c 'import json,sys
def as_float(text):
    assert not float(text).is_integer(), text
    return float(text)
t = json.load(open(sys.argv[1]), parse_float=as_float)
assert type(t["task_info"]["estimated_time"]) is int, t' "$tmp/out"

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

# Through an HTTP proxy, as curl: HTTPS_PROXY (Debian's tinyproxy), NO_PROXY, one that is not there.
proxy_port="$(free_port)"
printf 'Port %s\nListen 127.0.0.1\nTimeout 30\nLogFile "%s"\nLogLevel Connect\nMaxClients 10\n' \
  "$proxy_port" "$tmp/tinyproxy.log" > "$tmp/tinyproxy.conf"
tinyproxy -d -c "$tmp/tinyproxy.conf" > /dev/null 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null && break; sleep 0.1; done
run_env HTTPS_PROXY="http://127.0.0.1:$proxy_port" status "$image_id"
check "HTTPS_PROXY: exit 0" test "$rc" -eq 0
check "HTTPS_PROXY: through the proxy's tunnel" grep -q "CONNECT ${base#https://} HTTP/1.1" "$tmp/tinyproxy.log"
tunnels="$(grep -c "CONNECT " "$tmp/tinyproxy.log")"
run_env https_proxy="http://127.0.0.1:$proxy_port" NO_PROXY="example.com, 127.0.0.1" status "$image_id"
check "NO_PROXY: exit 0, not through the proxy" test "$rc" -eq 0 -a "$(grep -c "CONNECT " "$tmp/tinyproxy.log")" -eq "$tunnels"
run_env HTTPS_PROXY="http://user:pr0xy-pw@127.0.0.1:$(free_port)" status "$image_id"
check "HTTPS_PROXY not listening: exit 3, names the proxy, not its password" test "$rc" -eq 3 -a "$(grep -c "through the proxy 127.0.0.1:" "$tmp/err")" -ge 1 -a "$(grep -c "pr0xy-pw" "$tmp/err")" -eq 0
run_env HTTPS_PROXY="socks5://127.0.0.1:1080" status "$image_id"
check "HTTPS_PROXY socks5: exit 2, says what is allowed" test "$rc" -eq 2 -a "$(grep -c "HTTPS_PROXY.*socks5.*allowed: http" "$tmp/err")" -ge 1
kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null; proxy_pid=""

# The account: credits and the task list (reads; the tasks made above are listed).
run credits
check "credits: exit 0" test "$rc" -eq 0
check "credits: one line for the account, one for the key" test "$(lines "$tmp/out")" -eq 2 -a "$(grep -c '^account: [0-9.]* credits left, [0-9.]* used$' "$tmp/out")" -eq 1 -a "$(grep -c '^key: [0-9.]* credits left, [0-9.]* used$' "$tmp/out")" -eq 1
run credits --json
check "credits --json: the API's data object; the tasks above used credits" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["user"]["used_credits"] > 0 and d["user"]["remaining_credits"] < 1000 and d["token"]["unlimited_credits"] is False, d' "$tmp/out"
run credits extra; check "credits with an argument: exit 2" test "$rc" -eq 2
run tasks
check "tasks: exit 0" test "$rc" -eq 0
check "tasks: a line per task: id status progress type model date time" test "$(grep -vc '^task-unified-[0-9]*-[a-z0-9]\{8\} [a-z]* [0-9]*% [a-z-]* [^ ]* [0-9-]\{10\} [0-9:]\{8\}$' "$tmp/out")" -eq 0 -a "$(lines "$tmp/out")" -ge 5
check "tasks: the first image, completed" grep -q "^$image_id completed 100% image wan2.5-text-to-image " "$tmp/out"
check "tasks: newest first" python3 -c 'import sys; t=[int(l.split("-")[2]) for l in open(sys.argv[1])]; assert t == sorted(t, reverse=True), t' "$tmp/out"
check "tasks: the page and the total on stderr" grep -q "^page 1: [0-9]* of [0-9]* tasks" "$tmp/err"
run tasks --status completed --type video --json
check "tasks --status completed --type video --json: only those, as the API answers" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total"] >= 1 and d["page"] == 1 and all(t["status"] == "completed" and t["type"] == "video" for t in d["data"]), d' "$tmp/out"
run tasks --page-size 1 --model wan2.5-text-to-image
check "tasks --page-size 1: one task, and where the next page is" test "$rc" -eq 0 -a "$(lines "$tmp/out")" -eq 1 -a "$(grep -c 'next: --page 2$' "$tmp/err")" -eq 1
run tasks --status bogus
check "tasks --status bogus: exit 2, the allowed values" test "$rc" -eq 2 -a "$(grep -c -- '--status: "bogus" is not a filter value; allowed: processing, completed, failed, cancelled' "$tmp/err")" -eq 1
run_env EVOLINK_BASE_URL="https://127.0.0.1:1" tasks --status pending
check "tasks --status pending: exit 2, nothing sent (no server needed)" test "$rc" -eq 2 -a "$(grep -c '^evolink: --status: pending is not a filter value' "$tmp/err")" -eq 1
run tasks --page-size 101
check "tasks --page-size 101: exit 2, with the flag" test "$rc" -eq 2 -a "$(grep -c '^evolink: --page-size: 101 is out of range; allowed: 1 to 100' "$tmp/err")" -eq 1
run tasks --type movie; check "tasks --type movie: exit 2" test "$rc" -eq 2
run_env EVOLINK_API_KEY="sk-wrong-key-SECRET-77" credits
check "credits with a wrong key: exit 3" test "$rc" -eq 3 -a "$(grep -c 'HTTP 401' "$tmp/err")" -eq 1
run wait "$image_id" --poll 0.05
check "wait on a finished task: exit 0 and its URL" test "$rc" -eq 0 -a "$(grep -c "^$base/results/$image_id" "$tmp/out")" -eq 1

run_env EVOLINK_API_KEY="sk-wrong-key-SECRET-77" status "$image_id"
check "wrong key: exit 3" test "$rc" -eq 3
check "wrong key: 401 reported" grep -q "401" "$tmp/err"
check "wrong key: the key is not printed" bash -c "! grep -q SECRET-77 '$tmp/out' '$tmp/err'"
run_env -u EVOLINK_API_KEY status "$image_id"
check "no key: exit 2" test "$rc" -eq 2
check "no key: says how to set it, and that demo and fake-server need none" test "$(grep -c 'export EVOLINK_API_KEY=.*evolink demo.*evolink fake-server' "$tmp/err")" -eq 1
run_env EVOLINK_BASE_URL=http://api.example.com status "$image_id"
check "http:// base URL: exit 2, says what to do with EVOLINK_BASE_URL" test "$rc" -eq 2 -a "$(grep -c 'EVOLINK_BASE_URL.*https://' "$tmp/err")" -eq 1
run_env EVOLINK_BASE_URL="https://127.0.0.1:1" status "$image_id"
check "nothing listening: exit 3" test "$rc" -eq 3
check "nothing listening: one line naming the host and what failed" test "$(lines "$tmp/err")" -eq 1 -a "$(grep -c '127\.0\.0\.1:1.*refused' "$tmp/err")" -eq 1
check "nothing listening: the attempts said once" test "$(grep -o 'attempts' "$tmp/err" | wc -l)" -le 1
run_env -u EVOLINK_CA_FILE status "$image_id"
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
run resume --journal "$tmp/no-such-journal.jsonl"
check "resume of a missing journal: exit 2, names the file, creates none" test "$rc" -eq 2 -a "$(grep -c 'no-such-journal.jsonl: no such file' "$tmp/err")" -eq 1 -a ! -e "$tmp/no-such-journal.jsonl"

# Local images (--image PATH: checked, then uploaded through the Files API)
# and downloads (--out DIR). Run from a folder of their own so that the
# relative paths are real ones.
work="$tmp/work"
mkdir -p "$work"
run_here() { # run_here ARGS... : runs evolink in $work; every output also goes to all.log
  (cd "$work" && "$evolink" "$@") > "$tmp/out" 2> "$tmp/err"; rc=$?
  cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
}
# PNG headers only (what the checker reads): signature, IHDR (width, height,
# bit depth 8, colour type), an IDAT, IEND; the CRCs are left zero.
make_png() { # make_png FILE WIDTH HEIGHT COLOUR_TYPE
  python3 -c 'import struct,sys
def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + b"\0\0\0\0"
w, h, ct = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ct, 0, 0, 0))
                            + chunk(b"IDAT", b"\x78\x9c\x03\x00\x00\x00\x00\x01") + chunk(b"IEND", b""))' "$@"
}
make_png "$work/cat.png" 640 480 2
make_png "$work/alpha.png" 640 480 6
make_png "$work/small.png" 300 300 2
result_size=262144 # the fake server's result files: 256 KiB
in_work() { (cd "$work" && "$@"); } # in_work COMMAND...: runs COMMAND in $work
only_entry() { test "$(ls -A "$1")" = "$2"; } # only_entry DIR NAME: DIR holds NAME and nothing else (no temporary file)

check "fake-server: prints EVOLINK_FILES_BASE_URL (its own base URL)" test -n "$files_base" -a "$files_base" = "$base"
check "fake-server: export lines for the base URLs, the CA file and the key" env -i PATH="$PATH" bash -c 'source "$1" && env > "$5" &&
  grep -qx "EVOLINK_BASE_URL=$2" "$5" && grep -qx "EVOLINK_FILES_BASE_URL=$2" "$5" && grep -qx "EVOLINK_CA_FILE=$3" "$5" &&
  grep -qx "EVOLINK_API_KEY=$4" "$5"' _ "$tmp/server.out" "$base" "$tmp/ca.pem" "$secret" "$tmp/exported"
# Without options: a CA file of its own, and lines that work as pasted.
"$evolink" fake-server > "$tmp/server2.out" 2> "$tmp/server2.err" &
server2_pid=$!
for _ in $(seq 100); do grep -q EVOLINK_API_KEY "$tmp/server2.out" 2>/dev/null && break; sleep 0.1; done
(source "$tmp/server2.out" && exec "$evolink" image --prompt "pasted" --poll 0.05) > "$tmp/out" 2> "$tmp/err"; rc=$?
check "fake-server without options: its export lines, pasted, work" test "$rc" -eq 0 -a "$(grep -c '/results/' "$tmp/out")" -eq 1
server2_ca="$(sed -n 's/^export EVOLINK_CA_FILE=//p' "$tmp/server2.out")"
kill "$server2_pid"; wait "$server2_pid"
check "fake-server without --ca-out: its CA file is removed at exit" test -n "$server2_ca" -a ! -e "$server2_ca"

EVOLINK_FILES_BASE_URL="$files_base" run_here video --prompt "a cat plays piano" --image ./cat.png --out ./videos --poll 0.05
video_id="$(sed -n 's/^task: //p' "$tmp/err")"
check "video --image PATH --out DIR: exit 0" test "$rc" -eq 0
check "video --out: stdout is exactly the file path" test "$(cat "$tmp/out")" = "./videos/$video_id-0.mp4"
check "video --out: the file has the size served" test "$(stat -c %s "$work/videos/$video_id-0.mp4" 2>/dev/null)" = "$result_size"
check "video --out: the file has the served bytes (an mp4)" test "$(head -c 8 "$work/videos/$video_id-0.mp4" | tail -c 4)" = "ftyp"
check "video --out: no temporary file left in the folder" only_entry "$work/videos" "$video_id-0.mp4"
check "video --out: one line per file on stderr when not a terminal" grep -qx "downloaded ./videos/$video_id-0.mp4 (256.0 KB)" "$tmp/err"
check "video --image PATH: one line once checked and uploaded" test "$(grep -c '^image: ./cat.png .*checked and uploaded' "$tmp/err")" -eq 1
run_here status "$video_id"
check "video from an uploaded image: the task completed" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["status"]=="completed"' "$tmp/out"

EVOLINK_FILES_BASE_URL="https://127.0.0.1:1" run_here video --prompt "a cat" --image ./cat.png --poll 0.05
check "EVOLINK_FILES_BASE_URL is the upload host: unreachable, exit 3" test "$rc" -eq 3
check "upload failed: says so, and no task was created" grep -q "uploading.*no task was created" "$tmp/err"
check "upload failed: no task id printed" bash -c "! grep -q '^task: ' '$tmp/err'"
env -u EVOLINK_FILES_BASE_URL "$evolink" video --prompt "a cat" --image "$work/cat.png" --poll 0.05 > "$tmp/out" 2> "$tmp/err"; rc=$?
cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
check "loopback EVOLINK_BASE_URL alone: uploads go to the same host, exit 0" test "$rc" -eq 0 -a "$(grep -c '\.mp4$' "$tmp/out")" -eq 1

# Refused images: nothing is sent (both hosts unreachable, yet exit 2).
nowhere=(env EVOLINK_BASE_URL=https://127.0.0.1:1 EVOLINK_FILES_BASE_URL=https://127.0.0.1:1)
"${nowhere[@]}" bash -c 'cd "$1" && shift && exec "$@"' _ "$work" "$evolink" video --prompt x --image ./alpha.png --out ./refused > "$tmp/out" 2> "$tmp/err"; rc=$?
cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
check "PNG with alpha: exit 2, nothing sent" test "$rc" -eq 2
check "PNG with alpha: names the file and says transparent" grep -q 'alpha\.png.*transparent' "$tmp/err"
check "refused image: no --out folder created" test ! -e "$work/refused"
"${nowhere[@]}" bash -c 'cd "$1" && shift && exec "$@"' _ "$work" "$evolink" video --prompt x --image ./small.png > "$tmp/out" 2> "$tmp/err"; rc=$?
check "300x300 PNG: exit 2, nothing sent" test "$rc" -eq 2
check "300x300 PNG: names the file and the limit 360" grep -q 'small\.png.*360' "$tmp/err"
run_here video --prompt x --image ./no-such-cat.png
check "missing image file: exit 2" test "$rc" -eq 2
check "missing image file: named" grep -q 'no-such-cat\.png' "$tmp/err"

run_here image --prompt "two foxes" --n 2 --size 1024x1024 --poll 0.05 --json --out ./images
check "image --json --out: exit 0" test "$rc" -eq 0
check "image --json --out: the task JSON with its URLs and the file paths" in_work python3 -c 'import json,os,sys
t = json.load(open(sys.argv[1]))
assert t["status"] == "completed" and len(t["results"]) == 2, t
assert t["files"] == ["./images/%s-%d.png" % (t["id"], i) for i in range(2)], t["files"]
assert all(os.path.getsize(f) == int(sys.argv[2]) for f in t["files"])' "$tmp/out" "$result_size"

run_here wait "$video_id" --out ./again --poll 0.05
check "wait ID --out DIR: downloads a finished task" test "$rc" -eq 0 -a "$(cat "$tmp/out")" = "./again/$video_id-0.mp4"
check "wait ID --out DIR: the file has the size served" test "$(stat -c %s "$work/again/$video_id-0.mp4" 2>/dev/null)" = "$result_size"

# A deadline with --out: the hint keeps --out; resume --out downloads.
run_here image --prompt "finished later" --poll 0.05 --timeout 0.1 --journal ./journal.jsonl --out ./resumed
later_id="$(sed -n 's/^task: //p' "$tmp/err")"
check "deadline with --out: exit 5, the hint keeps --out" test "$rc" -eq 5 -a "$(grep -c "evolink wait $later_id --out ./resumed" "$tmp/err")" -eq 1
run_here resume --journal ./journal.jsonl --out ./resumed --poll 0.05
check "resume --out: exit 0 and the file path" test "$rc" -eq 0 -a "$(cat "$tmp/out")" = "./resumed/$later_id-0.png"
check "resume --out: the file has the size served" test "$(stat -c %s "$work/resumed/$later_id-0.png" 2>/dev/null)" = "$result_size"

touch "$work/a-file"
run_here image --prompt x --out ./a-file/images
check "--out under a file: exit 2 before anything is sent" test "$rc" -eq 2 -a "$(grep -c '^task: ' "$tmp/err")" -eq 0
run_here status "$video_id" --out ./x
check "--out on status: exit 2" test "$rc" -eq 2

# A failed download: exit 3, the task id and the command that downloads again.
run_here video --prompt "x [broken-download]" --image ./cat.png --out ./broken --poll 0.05
broken_id="$(sed -n 's/^task: //p' "$tmp/err")"
check "failed download: exit 3" test "$rc" -eq 3
check "failed download: says how to download again" grep -q "evolink wait $broken_id --out ./broken" "$tmp/err"
check "failed download: nothing on stdout, no file left" test ! -s "$tmp/out" -a -z "$(ls -A "$work/broken" 2>/dev/null)"
run_here wait "$broken_id" --out ./broken
check "failed download: the suggested command downloads it" test "$rc" -eq 0 -a -f "$work/broken/$broken_id-0.mp4"

# Ctrl-C during a download (the file trickles over 30 s): exit 130, no partial file.
(cd "$work" && exec "$evolink" image --prompt "x [slow-download]" --out ./slow --poll 0.05) > "$tmp/out" 2> "$tmp/err" &
pid=$!
for _ in $(seq 200); do ls -A "$work/slow" 2>/dev/null | grep -q '^\.' && break; sleep 0.05; done
check "Ctrl-C in a download: a temporary file while downloading" bash -c "ls -A '$work/slow' | grep -q '^\.'"
kill -INT "$pid"; wait "$pid"; rc=$?
cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
check "Ctrl-C in a download: exit 130" test "$rc" -eq 130
check "Ctrl-C in a download: no file left, not even a partial one" test -z "$(ls -A "$work/slow")"
check "Ctrl-C in a download: says how to download" grep -q "Download its results with: evolink wait task-unified-.* --out ./slow" "$tmp/err"

# On a terminal: one progress line redrawn with \r, ending at 100%.
(cd "$work" && python3 -c 'import os,pty,sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))' \
  "$evolink" image --prompt "on a terminal" --out ./tty --poll 0.05 < /dev/null > "$tmp/out" 2> "$tmp/err"); rc=$?
cat "$tmp/out" "$tmp/err" >> "$tmp/all.log"
check "terminal: exit 0" test "$rc" -eq 0
check "terminal: a progress bar [1/1] ... 100% 256.0/256.0 KB" grep -q $'\r\[1/1\] #################### 100%  256.0/256.0 KB' "$tmp/out"
on_tty "$evolink" image --prompt "x [slow]" --poll 0.05 --timeout 2.5 < /dev/null
check "terminal: a task that does not move still shows signs of life (elapsed 0:02)" grep -q "0%  pending  0:02" "$tmp/out"

# The demo: the built-in fake unless --real, whatever the environment says.
run_here demo
check "demo: exit 0" test "$rc" -eq 0
check "demo: the built-in fake, not EVOLINK_BASE_URL" test "$(grep -c 'built-in fake EvoLink server (https://127.0.0.1:' "$tmp/err")" -eq 1 -a "$(grep -c "$base" "$tmp/err")" -eq 0
check "demo: stdout is the two downloaded paths" in_work bash -c 'test "$(wc -l < "$1")" -eq 2 && grep -q "^demo-output/run-1/.*\.png$" "$1" && grep -q "^demo-output/run-1/.*\.mp4$" "$1" && xargs -a "$1" ls > /dev/null' _ "$tmp/out"
run_here demo
check "demo again: a folder of its own, said on stderr" test "$rc" -eq 0 -a "$(grep -c '^demo-output/run-2/' "$tmp/out")" -eq 2 -a "$(grep -c 'files go to demo-output/run-2 (1 earlier run' "$tmp/err")" -eq 1
run_here demo --real < /dev/null
check "demo --real, stdin not a terminal, no --yes: exit 2, one line" test "$rc" -eq 2 -a "$(lines "$tmp/err")" -eq 1 -a "$(grep -c -- "--yes" "$tmp/err")" -eq 1
printf 'n\n' | on_tty "$evolink" demo --real
check "demo --real on a terminal: asks, naming the real base URL; no: exit 2" test "$rc" -eq 2 -a "$(grep -c "Create 2 billed tasks on $base? \[y/N\]" "$tmp/out")" -eq 1 -a "$(grep -c "nothing created" "$tmp/out")" -eq 1
run_here demo --real --yes --poll 0.05
check "demo --real --yes: runs against EVOLINK_BASE_URL, two paths" test "$rc" -eq 0 -a "$(grep -c "2 billed tasks on $base" "$tmp/err")" -eq 1 -a "$(lines "$tmp/out")" -eq 2
check "no client_options names in what the CLI prints" bash -c "! grep -q 'client_options' '$tmp/all.log'"

check "the key is never printed (uploads, downloads, failures)" bash -c "! grep -q '$secret' '$tmp/all.log'"
check "the fake server never logged the key" bash -c "! grep -q '$secret' '$tmp/server.err'"
echo
echo "$passed passed, $failed failed"
test "$failed" -eq 0
