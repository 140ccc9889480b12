#!/usr/bin/env python3
# evolink-cpp. Distributed under the Boost Software License, Version 1.0.
"""Compile-cost budgets of a client-only consumer, as ratios of a floor.

The floor (floor.cpp) does one verified TLS GET with Beast and parses the JSON
answer. The consumer (consumer.cpp) submits a text-to-image task and waits
for it with evolink, built header-only and with EVOLINK_SEPARATE_COMPILATION
(src.cpp, the one translation unit that includes <evolink/src.hpp>, is
compiled once and not counted, with -ffunction-sections -fdata-sections as
the meson and CMake targets build it). Every binary is linked with
-Wl,--gc-sections, as the compiled targets link their users. Every figure is a median of --runs runs,
each compile alone on the machine; the ratios are taken within this run.

    bench/compile/run.py [--runs 3] [--cxx g++]

Budgets (issue 11): consumer compile time <= 1.5x the floor at -O0 and -O2
header-only, <= 1.2x with separate compilation; peak compiler memory
<= 1.5x; stripped -O2 binary <= 2x. Prints the table (docs/building.md).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
libs = ["-lboost_json", "-lboost_url", "-lssl", "-lcrypto", "-pthread"]


def peak_of(cmd):
    """Peak RSS (MB) of the compiler proper: run under a fresh Python child
    whose RUSAGE_CHILDREN covers cc1plus."""
    code = (
        "import resource,subprocess,sys;"
        "r=subprocess.run(sys.argv[1:]);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.exit(r.returncode)"
    )
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True)
    secs = time.monotonic() - start
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        sys.exit("failed: " + " ".join(cmd))
    return secs, int(out.stdout.split()[-1]) / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--include", default=os.path.join(root, "include"),
                    help="the headers to measure (e.g. an older revision's, from git archive); "
                         "without <evolink/src.hpp> only the header-only rows are made")
    ap.add_argument("--levels", default="-O0,-O2")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="evolink-compile-")
    try:
        base = [args.cxx, "-std=c++20", "-I" + args.include]
        separate = os.path.exists(os.path.join(args.include, "evolink", "src.hpp"))
        levels = args.levels.split(",")
        src = os.path.join(work, "src.cpp")
        with open(src, "w") as f:
            f.write("#include <evolink/src.hpp>\n")
        tus = [
            ("floor", os.path.join(here, "floor.cpp"), []),
            ("evolink header-only", os.path.join(here, "consumer.cpp"), []),
            ("evolink separate", os.path.join(here, "consumer.cpp"), ["-DEVOLINK_SEPARATE_COMPILATION"]),
        ]
        if not separate:
            tus = tus[:2]
        rows = {}
        sizes = {}
        for level in levels:
            # The library's own translation unit: compiled once, not counted.
            src_o = os.path.join(work, "src" + level + ".o")
            if separate:
                # As the meson and CMake targets build it (one section per function).
                subprocess.run(base + [level, "-DEVOLINK_SEPARATE_COMPILATION", "-ffunction-sections",
                                       "-fdata-sections", "-c", src, "-o", src_o], check=True)
            for name, path, defs in tus:
                obj = os.path.join(work, name.replace(" ", "_") + level + ".o")
                times, mems = [], []
                for _ in range(args.runs):
                    secs, mb = peak_of(base + [level] + defs + ["-c", path, "-o", obj])
                    times.append(secs)
                    mems.append(mb)
                rows[(name, level)] = (statistics.median(times), statistics.median(mems))
                if level == "-O2":
                    exe = obj[:-2]
                    extra = [src_o] if defs else []
                    # Every binary linked as the compiled target's users link (--gc-sections).
                    subprocess.run([args.cxx, obj] + extra + ["-o", exe, "-Wl,--gc-sections"] + libs, check=True)
                    subprocess.run(["strip", exe], check=True)
                    sizes[name] = os.path.getsize(exe) / 1e6
        budgets = {"evolink header-only": 1.5, "evolink separate": 1.2}
        ok = True
        print(f"compile cost, median of {args.runs} runs ({args.cxx}, {os.cpu_count()} cores)")
        print(f"{'translation unit':22} {'level':5} {'seconds':>8} {'x floor':>8} {'budget':>7} "
              f"{'peak MB':>8} {'x floor':>8} {'binary MB':>10} {'x floor':>8}")
        for level in levels:
            ft, fm = rows[("floor", level)]
            for name, _, _ in tus:
                t, m = rows[(name, level)]
                bud = budgets.get(name)
                size = f"{sizes[name]:10.2f} {sizes[name] / sizes['floor']:8.2f}" if level == "-O2" else f"{'':10} {'':8}"
                print(f"{name:22} {level:5} {t:8.1f} {t / ft:8.2f} {('<= %.1f' % bud) if bud else '':>7} "
                      f"{m:8.0f} {m / fm:8.2f} {size}")
                if bud and t / ft > bud:
                    ok = False
                if name != "floor" and m / fm > 1.5:
                    ok = False
                if level == "-O2" and name != "floor" and sizes[name] / sizes["floor"] > 2.0:
                    ok = False
        print("budgets: " + ("all met" if ok else "NOT all met"))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
