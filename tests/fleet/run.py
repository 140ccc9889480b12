#!/usr/bin/env python3
"""The fleet test (issue 15; docs/scale-out.md, "The fleet test").

Real parts on loopback: Debian's redis-server (free port, no persistence),
the fake EvoLink server (`evolink fake-server`, tasks that take seconds), nginx
as a round-robin load balancer (its config generated here, a free port, no
daemon, `-p` into a temporary folder) in front of fleet_node instances
(examples/fleet_node.cpp: a client, a callback receiver, redis_journal and
redis_callback_bus each). Tasks are created with nginx's URL as the callback
URL. Three runs:

  kill   300 tasks over instances a, b, c; every callback sent twice; b is
         killed (SIGKILL) once its tasks are all created and a quarter of
         them finished. Instances a and b run with their wall clocks a day
         ahead, c 30 minutes behind (tests/fleet/clock_offset.cpp, preloaded). Every task finished exactly once
         across the fleet, none lost, none created twice; b's unfinished
         tasks claimed and finished by a or c, each within claim_after +
         heartbeat + SLACK of the kill; no instance lost a task to another;
         each instance handed each callback on at most once.
  redis  120 tasks over a, b, c; redis-server killed (SIGKILL) when half are
         created, started again empty 1.5 s later: creations refused
         meanwhile are made later, every wait ends, each task finished exactly
         once, none created twice, nothing left in Redis.
  term   60 tasks over a and b; b gets SIGTERM mid-run: it ends its waits and
         exits cleanly (exit 0, sanitizers quiet), and a claims and finishes
         b's unfinished tasks.

Each instance's stdout is its event lines ("<ms> <event> <args>", the
monotonic clock); the fake server's task list (`evolink tasks --json`) and its
counters are the other record. Exits non-zero at the first failed check.

    tests/fleet/run.py --fleet-node build/examples/fleet_node --evolink build/examples/evolink \
        --clock-offset build/tests/libclock_offset.so
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HEARTBEAT_MS = 200
CLAIM_AFTER_MS = 1000
# Scheduling on a loaded 2-core machine under ASan: a heartbeat thread may
# run late, and the claim itself is a round trip.
SLACK_MS = 1000
BOUND_MS = CLAIM_AFTER_MS + HEARTBEAT_MS + SLACK_MS
SECRET = "fleet-test-secret-0123456789abcdef"

failures = 0


def check(what, ok, detail=""):
    global failures
    print(("ok    " if ok else "FAIL  ") + what + ("" if ok or not detail else f"  ({detail})"), flush=True)
    if not ok:
        failures += 1


def now_ms():
    return int(time.monotonic() * 1000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def redis_cmd(port, *args):
    """One command on a connection of its own; an integer or status reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall((f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)).encode())
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    line = data.decode().strip()
    if line.startswith(":"):
        return int(line[1:])
    if line.startswith("+"):
        return line[1:]
    raise RuntimeError("Redis answered " + line)


class Instance:
    def __init__(self, name, proc, out, err):
        self.name, self.proc, self.out, self.err = name, proc, out, err

    def events(self):
        """[(ms, event, [args])] from its stdout so far (whole lines only)."""
        ev = []
        with open(self.out) as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                parts = line.split()
                if len(parts) >= 2 and parts[0].isdigit():
                    ev.append((int(parts[0]), parts[1], parts[2:]))
        return ev

    def count(self, event, pred=lambda a: True):
        return sum(1 for _, e, a in self.events() if e == event and pred(a))


class Fleet:
    """One run's processes, in a folder of their own."""

    def __init__(self, args, label):
        self.args, self.label = args, label
        self.work = tempfile.mkdtemp(prefix=f"evolink-fleet-{label}-")
        os.chmod(self.work, 0o755)  # nginx's workers run as another user when started as root
        self.procs = []
        self.instances = {}
        self.redis_port = free_port()
        self.lb_port = free_port()
        self.env = dict(os.environ)

    def spawn(self, name, argv, env=None):
        out, err = os.path.join(self.work, name + ".out"), os.path.join(self.work, name + ".err")
        # A session of its own: stop() ends the whole group (nginx's worker outlives a killed master).
        p = subprocess.Popen(argv, stdout=open(out, "w"), stderr=open(err, "w"), env=env or self.env,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p, out, err

    def start_redis(self):
        self.redis, _, _ = self.spawn("redis", [self.args.redis_server, "--port", str(self.redis_port), "--bind",
                                                "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
                                                "--dir", self.work, "--loglevel", "warning"])

        def up():
            try:
                return redis_cmd(self.redis_port, "PING") == "PONG"
            except OSError:
                return False
        if not wait_for(up, 10):
            sys.exit("fleet: redis-server did not start")

    def kill_redis(self):
        self.redis.kill()
        self.redis.wait()

    def start_fake(self, task_time, duplicates=0):
        ca = os.path.join(self.work, "ca.pem")
        self.fake, out, self.fake_err = self.spawn("fake", [self.args.evolink, "fake-server", "--ca-out", ca,
                                                            "--task-time", str(task_time),
                                                            "--callback-duplicates", str(duplicates)])
        if not wait_for(lambda: open(out).read().count("\n") >= 4, 20):
            sys.exit("fleet: the fake server did not start: " + open(self.fake_err).read())
        for line in open(out):
            m = re.match(r"export (\w+)=(.*)", line.strip())
            if m:
                self.env[m.group(1)] = m.group(2).strip("'")
        self.env["FLEET_CALLBACK_SECRET"] = SECRET

    def start_nginx(self, ports):
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        upstreams = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
        conf = os.path.join(self.work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format fleet '$upstream_addr $status $request_body';
  access_log {self.work}/access.log fleet;
  client_body_temp_path {self.work}/body;
  proxy_temp_path {self.work}/proxy;
  fastcgi_temp_path {self.work}/fastcgi;
  uwsgi_temp_path {self.work}/uwsgi;
  scgi_temp_path {self.work}/scgi;
  upstream fleet {{
{upstreams}  }}
  server {{
    listen 127.0.0.1:{self.lb_port};
    location / {{
      proxy_pass http://fleet;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
    }}
  }}
}}
""")
        self.nginx, _, _ = self.spawn("nginx", [self.args.nginx, "-p", self.work, "-e",
                                                os.path.join(self.work, "nginx-error.log"), "-c", conf])

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.lb_port), timeout=1).close()
                return True
            except OSError:
                return False
        if not wait_for(up, 10):
            sys.exit("fleet: nginx did not start: " + open(os.path.join(self.work, "nginx-error.log")).read())

    def start_instance(self, name, port, tasks, rate, clock_offset=None):
        env = dict(self.env)
        if clock_offset:  # its wall clock this many seconds off
            env.update(LD_PRELOAD=self.args.clock_offset, FLEET_CLOCK_OFFSET=str(clock_offset))
            # g++'s ASan runtime is a shared library that wants to come first; clang's is linked in.
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
        p, out, err = self.spawn(name, [self.args.fleet_node, "--instance", name, "--fleet", "test",
                                        "--redis-port", str(self.redis_port), "--listen-port", str(port),
                                        "--lb-url", f"http://127.0.0.1:{self.lb_port}", "--tasks", str(tasks),
                                        "--rate", str(rate), "--heartbeat-ms", str(HEARTBEAT_MS),
                                        "--claim-after-ms", str(CLAIM_AFTER_MS), "--poll-ms", "1000"], env)
        self.instances[name] = Instance(name, p, out, err)

    def start(self, names, tasks, rate, task_time, duplicates=0, clocks=None):
        self.start_redis()
        self.start_fake(task_time, duplicates)
        ports = [free_port() for _ in names]
        self.start_nginx(ports)
        for name, port in zip(names, ports):
            self.start_instance(name, port, tasks, rate, (clocks or {}).get(name))

    def wait_instances(self, names, timeout):
        end = time.monotonic() + timeout
        for n in names:
            try:
                self.instances[n].proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def fake_tasks(self):
        """The fake server's record: every task it created, from its task list."""
        tasks, page = [], 1
        while True:
            r = subprocess.run([self.args.evolink, "tasks", "--json", "--page-size", "100", "--page", str(page)],
                               env=self.env, capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                sys.exit("fleet: evolink tasks failed: " + r.stderr)
            data = json.loads(r.stdout)["data"]
            tasks += data
            if len(data) < 100:
                return tasks
            page += 1

    def stop_fake(self):
        """SIGTERM; its counters from the line it prints when it stops."""
        self.fake.send_signal(signal.SIGTERM)
        self.fake.wait(20)
        check(f"{self.label}: the fake server: exit 0, sanitizers quiet",
              self.fake.returncode == 0 and sanitizer_clean(self.fake_err), f"exit {self.fake.returncode}")
        text = open(self.fake_err).read()
        m = re.search(r"(\d+) task\(s\) created, (\d+) callback POST\(s\), (\d+) callback\(s\) answered 2xx", text)
        return {"created": int(m.group(1)), "posts": int(m.group(2)), "delivered": int(m.group(3))} if m else None

    def stop(self):
        for p in self.procs:
            if p.poll() is None:  # alive: its group still exists
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def dump(self):
        print(f"--- {self.label}: logs in {self.work}")
        for name in sorted(self.instances):
            for path in (self.instances[name].err,):
                text = open(path).read()
                if text:
                    print(f"--- {name} stderr (last 30 lines):\n" + "\n".join(text.splitlines()[-30:]))


def sanitizer_clean(path):
    text = open(path).read()
    return not re.search(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer", text)


def account(fleet, killed=None):
    """Per task: who created it, who finished it. A finish is the journal's:
    'finished' (Redis took it), 'finish-deferred' (Redis unreachable: its
    heartbeat made it later), or the killed instance's 'finishing' with
    nothing after it (killed between Redis's answer and the line) when no one
    else finished the task."""
    created, finishers, ended, claimed, resumed, lost, other = {}, {}, {}, {}, {}, [], {}
    for name, inst in fleet.instances.items():
        pending = set()
        for ms, ev, a in inst.events():
            if ev == "created":
                created.setdefault(a[0], []).append(name)
            elif ev == "finishing":
                pending.add(a[0])
            elif ev in ("finished", "finish-deferred"):
                pending.discard(a[0])
                finishers.setdefault(a[0], []).append(name)
            elif ev == "ended":
                ended.setdefault(a[0], []).append((name, " ".join(a[1:])))
            elif ev == "claimed":
                claimed.setdefault(a[0], []).append((name, ms))
            elif ev == "resumed":
                resumed.setdefault(a[0], []).append(name)
            elif ev == "lost":
                lost.append((name, a[0]))
            else:
                other[ev] = other.get(ev, 0) + 1
        other[name + ":dangling"] = pending
    if killed:
        for t in other[killed + ":dangling"]:
            if t not in finishers:
                finishers[t] = [killed]
    return created, finishers, ended, claimed, resumed, lost


def check_exactly_once(fleet, fake, label, expected, killed=None):
    created, finishers, ended, claimed, resumed, lost = account(fleet, killed)
    fake_ids = {t["id"] for t in fake}
    check(f"{label}: the fake server created {expected} tasks", len(fake) == expected == len(fake_ids), f"{len(fake)}")
    check(f"{label}: every task the fake created was reported created by one instance, none twice",
          set(created) == fake_ids and all(len(v) == 1 for v in created.values()),
          f"{len(set(created))} reported, {sum(len(v) > 1 for v in created.values())} twice")
    check(f"{label}: every task completed at the fake", all(t["status"] == "completed" for t in fake))
    once = [t for t in fake_ids if len(finishers.get(t, [])) == 1]
    check(f"{label}: every task finished exactly once across the fleet ({len(once)}/{len(fake_ids)})",
          len(once) == len(fake_ids),
          f"lost: {sorted(t for t in fake_ids if t not in finishers)[:5]}, "
          f"twice: {sorted(t for t in fake_ids if len(finishers.get(t, [])) > 1)[:5]}")
    return created, finishers, ended, claimed, resumed, lost


def check_exits(fleet, names):
    for n in names:
        inst = fleet.instances[n]
        check(f"{n}: exit 0, sanitizers quiet", inst.proc.returncode == 0 and sanitizer_clean(inst.err),
              f"exit {inst.proc.returncode}")


def check_redis_empty(fleet, label):
    xlen = redis_cmd(fleet.redis_port, "XLEN", "evolink:fleet:test:tasks")
    hlen = redis_cmd(fleet.redis_port, "HLEN", "evolink:fleet:test:ids")
    check(f"{label}: nothing left in the fleet's journal (stream and ids empty)", xlen == 0 and hlen == 0,
          f"XLEN {xlen}, HLEN {hlen}")


@contextlib.contextmanager
def scenario(args, label):
    """A fleet for one scenario, stopped at the end; its files kept (and
    printed) when a check failed, or with --keep."""
    fleet = Fleet(args, label)
    t0 = time.monotonic()
    try:
        yield fleet
    finally:
        fleet.stop()
        if failures:
            fleet.dump()
        elif not args.keep:
            shutil.rmtree(fleet.work, ignore_errors=True)
        print(f"      {label}: {time.monotonic() - t0:.1f} s", flush=True)


def run_kill(args):
    label = "kill"
    with scenario(args, label) as fleet:
        clocks = {"a": 86400, "b": 86400, "c": -1800}
        fleet.start(["a", "b", "c"], tasks=100, rate=40, task_time=3, duplicates=1, clocks=clocks)
        b = fleet.instances["b"]
        ready = wait_for(lambda: b.count("created") == 100 and b.count("finished") >= 25, 60)
        check("kill: b created its 100 tasks and finished a quarter", ready)
        b.proc.kill()
        kill_ms = now_ms()
        b.proc.wait()
        ended = fleet.wait_instances(["a", "c"], 90)
        check("kill: a and c ended by themselves (their tasks and b's finished, the fleet's journal empty)", ended)
        if not ended:
            return
        fake = fleet.fake_tasks()
        posts = fleet.stop_fake()
        fleet.nginx.send_signal(signal.SIGQUIT)  # finishes its access log
        fleet.nginx.wait(10)
        check_exits(fleet, ["a", "c"])
        created, finishers, waits, claimed, resumed, lost = check_exactly_once(fleet, fake, label, 300, killed="b")
        check_redis_empty(fleet, label)
        for n in "abc":
            check(f"kill: {n} created 100 tasks", sum(1 for v in created.values() if v == [n]) == 100)
        b_tasks = {t for t, v in created.items() if v == ["b"]}
        b_done = {t for t in b_tasks if finishers.get(t) == ["b"]}
        orphans = b_tasks - b_done
        check(f"kill: b had unfinished tasks at the kill ({len(orphans)})", len(orphans) > 0)
        check("kill: each of them claimed once, by a or c", all(
            len(claimed.get(t, [])) == 1 and claimed[t][0][0] in "ac" for t in orphans),
            f"{sum(1 for t in orphans if t not in claimed)} not claimed")
        check("kill: only b's unfinished tasks were claimed", set(claimed) == orphans,
              f"{sorted(set(claimed) - orphans)[:5]}")
        check("kill: each resumed and finished by its claimer", all(
            resumed.get(t) == [claimed[t][0][0]] and finishers.get(t) == [claimed[t][0][0]] for t in orphans if t in claimed))
        delays = [claimed[t][0][1] - kill_ms for t in orphans if t in claimed]
        if delays:
            print(f"      claimed {min(delays)} to {max(delays)} ms after the kill (bound {BOUND_MS} ms: "
                  f"claim_after {CLAIM_AFTER_MS} + heartbeat {HEARTBEAT_MS} + slack {SLACK_MS})")
        check(f"kill: every claim within claim_after + heartbeat + slack = {BOUND_MS} ms of the kill",
              delays and max(delays) <= BOUND_MS, f"max {max(delays) if delays else None} ms")
        check("kill: no instance lost a task to another (clocks a day apart change nothing)", not lost, f"{lost[:5]}")
        walls = {n: int(next(a for _, e, a in fleet.instances[n].events() if e == "ready")[2][5:]) for n in "abc"}
        real = time.time()
        check("kill: the clocks were off: a and b a day ahead, c 30 minutes behind",
              all(abs(walls[n] - real - clocks[n]) < 300 for n in "abc"), f"{walls}, real {int(real)}")
        # Every callback was sent twice: each instance handed each on at most once.
        check("kill: the fake sent every callback twice", posts is not None and posts["posts"] >= 600, f"{posts}")
        by_task = {}
        for line in open(os.path.join(fleet.work, "access.log")):
            m = re.search(r"task-unified-\d+-[a-z0-9]+", line)
            if m:
                by_task.setdefault(m.group(0), set()).add(line.split()[0].split(",")[-1])
        split = sum(1 for ups in by_task.values() if len(ups) == 2)
        check(f"kill: nginx sent both copies of a callback to two instances for {split} tasks", split > 0)
        for n in "ac":
            done = next(a for _, e, a in fleet.instances[n].events() if e == "done")
            c = dict(kv.split("=") for kv in done[1:])
            copies = int(c["http_callbacks"]) + int(c["bus_received"])
            handed = copies - int(c["duplicates"])
            # At most one per task although more came; nearly all of them
            # (b may have answered a few and died before publishing them).
            check(f"kill: {n} handed each callback on at most once: {copies} copies (HTTP and bus), "
                  f"{c['duplicates']} ignored as duplicates, {handed} handed on", handed <= 300 < copies)
            check(f"kill: {n} heard nearly every task's callback (the bus works)", handed >= 290, f"{handed}")


def run_redis(args):
    label = "redis"
    with scenario(args, label) as fleet:
        fleet.start(["a", "b", "c"], tasks=40, rate=20, task_time=2)
        total = lambda: sum(i.count("created") for i in fleet.instances.values())
        check("redis: half the tasks created", wait_for(lambda: total() >= 60, 60))
        fleet.kill_redis()
        time.sleep(1.5)  # longer than claim_after: heartbeats fail, instances say their tasks may be claimed
        fleet.start_redis()  # same port, empty
        ended = fleet.wait_instances(["a", "b", "c"], 90)
        check("redis: a, b and c ended by themselves", ended)
        if not ended:
            return
        check_exits(fleet, ["a", "b", "c"])
        fake = fleet.fake_tasks()
        fleet.stop_fake()
        created, finishers, waits, claimed, resumed, lost = check_exactly_once(fleet, fake, label, 120)
        refused = sum(i.count("refused") for i in fleet.instances.values())
        unrecorded = sum(i.count("unrecorded") for i in fleet.instances.values())
        deferred = sum(i.count("finish-deferred") for i in fleet.instances.values())
        print(f"      {refused} creations refused while Redis was down (nothing sent, made later), "
              f"{unrecorded} created but not recorded (waited for, recorded later), "
              f"{deferred} finishes deferred to the heartbeat")
        check("redis: creations were refused while Redis was down, then made", refused > 0)
        check("redis: every wait ended completed, once", len(waits) == 120 and all(
            len(v) == 1 and v[0][1] == "completed" for v in waits.values()))
        check("redis: no task claimed nor lost (no instance stopped)", not claimed and not lost)
        check_redis_empty(fleet, label)


def run_term(args):
    label = "term"
    with scenario(args, label) as fleet:
        fleet.start(["a", "b"], tasks=30, rate=30, task_time=3)
        b = fleet.instances["b"]
        check("term: b created its 30 tasks", wait_for(lambda: b.count("created") == 30, 60))
        b.proc.send_signal(signal.SIGTERM)
        term_ms = now_ms()
        ended = fleet.wait_instances(["a", "b"], 60)
        check("term: a and b ended by themselves", ended)
        if not ended:
            return
        check_exits(fleet, ["a", "b"])
        stopped = [a for _, e, a in b.events() if e == "stopped"]
        check("term: b said it stopped, with waits still running", stopped and int(
            dict(kv.split("=") for kv in stopped[0][1:])["interrupted"]) > 0, f"{stopped}")
        fake = fleet.fake_tasks()
        fleet.stop_fake()
        created, finishers, waits, claimed, resumed, lost = check_exactly_once(fleet, fake, label, 60)
        b_left = {t for t, v in created.items() if v == ["b"] and finishers.get(t) != ["b"]}
        check(f"term: b's {len(b_left)} unfinished tasks claimed, resumed and finished by a", b_left and all(
            [c[0] for c in claimed.get(t, [])] == ["a"] and finishers.get(t) == ["a"] for t in b_left))
        delays = [claimed[t][0][1] - term_ms for t in b_left if t in claimed]
        if delays:
            print(f"      claimed {min(delays)} to {max(delays)} ms after SIGTERM")
        check(f"term: claimed within {BOUND_MS} ms of SIGTERM", delays and max(delays) <= BOUND_MS,
              f"max {max(delays) if delays else None} ms")
        check_redis_empty(fleet, label)


def main():
    # meson's timeout sends SIGTERM: end like an exception, so that each
    # run's `finally` stops its processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("fleet: terminated"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fleet-node", required=True)
    p.add_argument("--evolink", required=True)
    p.add_argument("--clock-offset", required=True, help="the clock_offset module (tests/fleet/clock_offset.cpp)")
    p.add_argument("--redis-server", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    p.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    p.add_argument("--runs", default="kill,redis,term")
    p.add_argument("--keep", action="store_true", help="keep each run's folder (logs, nginx config)")
    args = p.parse_args()
    start = time.monotonic()
    for r in args.runs.split(","):
        {"kill": run_kill, "redis": run_redis, "term": run_term}[r](args)
    print(f"fleet: {failures} failed check(s), {time.monotonic() - start:.1f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
