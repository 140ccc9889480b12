#!/usr/bin/env python3
"""Checks that every public header compiles on its own.

Usage: check_headers.py [--without-redis] [--only HEADER]... SOURCE_ROOT [COMPILER [FLAGS...]]

Each public header (include/evolink.hpp, include/evolink/*.hpp,
include/evolink/testing/*.hpp; not detail/ nor impl/) is compiled as the
first and only include of a translation unit, so that a header that uses
something without including it fails here, whatever the order of the user's
includes. The compiles are -fsyntax-only (enough to find a missing include,
a fraction of a full compile) with -std=c++20 -Wall -Wextra -Werror, the
project's warning level, with include/ on a plain -I path so that warnings in
the headers count:

- every header with EVOLINK_SEPARATE_COMPILATION (the cheaper mode);
- HEADER_ONLY below also header-only: <evolink.hpp>, as a header-only user
  includes it. Only client.hpp, callback_receiver.hpp and images.hpp depend
  on the macro (header-only, each includes its impl/*.ipp), and <evolink.hpp>
  brings all three; compiling each of them header-only would compile the
  same headers again in another order;
- <evolink/src.hpp> with the macro (it stops with an #error without it, by
  design), which compiles impl/*.ipp as the compiled library does;
- the test kit: its headers above with EVOLINK_SEPARATE_COMPILATION only,
  i.e. the fake server header-only (fake_server.hpp includes
  testing/impl/fake_server.ipp); TESTING_SEPARATE below also with
  EVOLINK_TESTING_SEPARATE_COMPILATION, where fake_server.hpp only declares
  (so a missing include of its own is not hidden by the ipp's) and
  testing.hpp leaves out faults.hpp; and
  <evolink/testing/src.hpp> with both macros only (it stops with an #error
  without the second), which compiles the fake server as the
  `evolink_testing` library does.

The Redis part (<evolink/redis.hpp>, include/evolink/redis/*.hpp) needs
hiredis's headers: checked like the client (redis.hpp header-only too,
redis/src.hpp with the macro only), and left out with --without-redis
(meson passes it when hiredis is not found).

COMPILER defaults to $CXX or c++; FLAGS are added to every compile (meson
passes the compiler of the build). --only HEADER (e.g. evolink/task.hpp)
checks just that one. JOBS compiles run at once (2: CI machines have 2
cores). Exit status 1 when a header fails, with its name, the mode and the
compiler's message.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

JOBS = 2
HEADER_ONLY = ("evolink.hpp", "evolink/redis.hpp")
# Checked only with EVOLINK_SEPARATE_COMPILATION: without it it stops with an #error.
SEPARATE_ONLY = ("evolink/redis/src.hpp",)
REDIS = ("evolink/redis.hpp", "evolink/redis/")
FLAGS = ["-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror"]
SEPARATE = "-DEVOLINK_SEPARATE_COMPILATION"
TESTING = "-DEVOLINK_TESTING_SEPARATE_COMPILATION"
# Checked also with the test kit compiled separately (both macros).
TESTING_SEPARATE = ("evolink/testing.hpp", "evolink/testing/fake_server.hpp")
# Checked only with both macros: without the second it stops with an #error.
TESTING_ONLY = ("evolink/testing/src.hpp",)


def public_headers(include_dir, redis=True):
    names = ["evolink.hpp"]
    for sub in ("evolink", "evolink/testing") + (("evolink/redis",) if redis else ()):
        names += sorted(f"{sub}/{f}" for f in os.listdir(os.path.join(include_dir, sub))
                        if f.endswith(".hpp"))
    if not redis:
        names = [n for n in names if not n.startswith(REDIS)]
    return names


def weight(include_dir, name, memo={}):
    """How many of evolink's own headers `name` pulls in: the heavy compiles go first."""
    if name not in memo:
        memo[name] = set()
        try:
            with open(os.path.join(include_dir, name)) as f:
                text = f.read()
        except OSError:
            return memo[name]
        for inc in re.findall(r'^\s*#\s*include\s*<(evolink[^>]*)>', text, re.M):
            memo[name] |= {inc} | weight(include_dir, inc)
    return memo[name]


def run(cmd):
    """Exit status, output and CPU seconds (the machine may be busy: wall time says little)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with proc.stdout:
        out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, usage.ru_utime + usage.ru_stime


def main():
    args, only, redis = sys.argv[1:], [], True
    while args and args[0] in ("--only", "--without-redis"):
        if args[0] == "--without-redis":
            redis = False
            args = args[1:]
            continue
        if len(args) < 2:
            sys.exit(__doc__)
        only.append(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    root = args[0]
    compiler = args[1:] or shlex.split(os.environ.get("CXX", "c++"))
    include_dir = os.path.join(root, "include")
    headers = public_headers(include_dir, redis)
    unknown = set(only) - set(headers)
    if unknown:
        sys.exit(f"check_headers.py: not a public header: {', '.join(sorted(unknown))}")

    checks = []  # (header, mode, macro flags)
    for h in only or headers:
        if h in TESTING_ONLY:
            checks.append((h, "test kit compiled separately", [SEPARATE, TESTING]))
            continue
        if h in SEPARATE_ONLY:
            checks.append((h, "separate compilation", [SEPARATE]))
            continue
        checks.append((h, "separate compilation", [SEPARATE]))
        if h in HEADER_ONLY:
            checks.append((h, "header-only", []))
        if h in TESTING_SEPARATE:
            checks.append((h, "test kit compiled separately", [SEPARATE, TESTING]))
    missing = set(HEADER_ONLY + TESTING_SEPARATE + TESTING_ONLY + SEPARATE_ONLY) - set(public_headers(include_dir))
    if missing:
        sys.exit(f"check_headers.py: HEADER_ONLY, TESTING_SEPARATE or TESTING_ONLY names headers that do not exist: "
                 f"{', '.join(sorted(missing))}")
    checks.sort(key=lambda c: -len(weight(include_dir, c[0])))

    with tempfile.TemporaryDirectory(prefix="evolink-headers-") as tmp:
        def compile_one(check):
            header, mode, macros = check
            suffix = "_ho" if not macros else "_kit" if TESTING in macros else ""
            tu = os.path.join(tmp, re.sub(r"\W", "_", header) + suffix + ".cpp")
            with open(tu, "w") as f:
                f.write(f"#include <{header}>\n")
            cmd = compiler + FLAGS + macros + ["-I", include_dir, tu]
            return (check, cmd) + run(cmd)

        start = time.monotonic()
        total_cpu = 0.0
        failed = []
        with ThreadPoolExecutor(JOBS) as pool:
            for (header, mode, _), cmd, rc, out, cpu in pool.map(compile_one, checks):
                print(f"{'ok  ' if rc == 0 else 'FAIL'} {header} ({mode}): {cpu:.1f} s of CPU", flush=True)
                total_cpu += cpu
                if rc != 0:
                    failed.append((header, mode, out, cmd))
        print(f"{len(checks)} compiles of {len({c[0] for c in checks})} public headers, "
              f"{len(failed)} failed: {time.monotonic() - start:.0f} s, {total_cpu:.0f} s of CPU")
        for header, mode, out, cmd in failed:
            print(f"\n=== <{header}> does not compile on its own ({mode}), as the only include of a "
                  f"translation unit:\n$ {shlex.join(cmd)}\n{out.rstrip()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
