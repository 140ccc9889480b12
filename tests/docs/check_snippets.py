#!/usr/bin/env python3
"""Compiles every ```cpp block of README.md and docs/*.md.

Usage: check_snippets.py [--list] SOURCE_ROOT [OUT_DIR [COMPILER [FLAGS...]]]

The convention (docs/building.md#the-headers-and-the-docs-code-compiled):
the HTML comment on the line before a block (blank lines between allowed)
says what the block is:

  (no comment)                  a fragment: statements, compiled as the body of
                                a coroutine that has the names of CONTEXT in scope
  <!-- snippet: namespace -->   declarations and function definitions, at
                                namespace scope, with `asio` and chrono literals
  <!-- snippet: whole -->       a whole program, compiled as written
  <!-- snippet: skip, REASON -->  not compiled: a synopsis of declarations that
                                the headers already define, pseudo-code...

All blocks go into one translation unit (OUT_DIR/snippets.cpp, default: a
temporary directory), each in its own namespace; their #include lines are
moved to the top, and a whole program's `int main(` becomes
`auto snippet_main(` (a function named main in a namespace would not return 0
by itself). #line directives make the compiler's messages name the .md file
and line. It is compiled with -fsyntax-only -std=c++20
-DEVOLINK_SEPARATE_COMPILATION -Wall -Wextra -Werror and include/ on the -I
path. COMPILER defaults to $CXX or c++; meson passes the build's. Exit
status 1 when a block does not compile (each failing block is named by its
file and line, then the compiler's output follows) or a comment is malformed.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

KINDS = ("coroutine", "namespace", "whole", "skip")
FLAGS = ["-std=c++20", "-fsyntax-only", "-DEVOLINK_SEPARATE_COMPILATION", "-Wall", "-Wextra", "-Werror"]

# Headers every fragment may use without including them.
PRELUDE = ["<evolink.hpp>", "<evolink/testing.hpp>", "<boost/asio.hpp>", "<cassert>", "<chrono>",
           "<cstdio>", "<iostream>", "<memory>", "<string>", "<string_view>"]

# The names a `coroutine` fragment has in scope: the parameters of the
# coroutine it is the body of. The fragment is in a nested block, so it may
# declare the same names itself. `config` and `journal` stand for the
# application's own objects.
CONTEXT = """\
asio::io_context& io,
evolink::client& client,
evolink::testing::fake_server& server,
evolink::callback_receiver& receiver,
evolink::client_options& opts,
evolink::wait_options& wo,
evolink::text_to_image& req,
evolink::image_to_video& video_req,
const evolink::task& task,
const std::string& id,
const std::string& url,
snippet_context::app_config& config,
snippet_context::app_journal& journal"""

CONTEXT_TYPES = """\
namespace snippet_context {
struct app_config { std::string callback_secret, ca_pem; };
struct app_journal { void save(std::string_view task_id); };
}"""

SCOPE = "namespace asio = boost::asio;\nusing namespace std::chrono_literals;"

MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")
INCLUDE = re.compile(r"^\s*#\s*include\b")
MAIN = re.compile(r"^(\s*)int\s+main\s*\(")


class Block:
    def __init__(self, path, line, lines, kind, reason):
        self.path, self.line, self.lines, self.kind, self.reason = path, line, lines, kind, reason

    @property
    def last(self):  # the closing fence's line
        return self.line + len(self.lines) + 1

    def name(self):
        return f"{self.path}:{self.line}"


def read_blocks(root, relpath, problems):
    """The ```cpp blocks of one file, with the kind each marker comment gives."""
    with open(os.path.join(root, relpath)) as f:
        lines = f.read().split("\n")
    blocks = []
    marker = None  # (line number, text) of a marker not yet used
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        fence = FENCE.match(lines[i])
        if m:
            if marker:
                problems.append(f"{relpath}:{marker[0]}: snippet comment not followed by a ```cpp block")
            marker = (i + 1, m.group(1))
        elif fence:
            indent, ticks, info = fence.groups()
            end = i + 1
            while end < len(lines) and not re.match(rf"^\s*{re.escape(ticks[0])}{{{len(ticks)},}}\s*$", lines[end]):
                end += 1
            if info in ("cpp", "c++"):
                body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:end]]
                kind, reason = "coroutine", ""
                if marker:
                    kind, _, reason = (s.strip() for s in marker[1].partition(","))
                    if kind not in KINDS:
                        problems.append(f"{relpath}:{marker[0]}: unknown snippet kind '{kind}' "
                                        f"(one of {', '.join(KINDS)})")
                        kind = "skip"
                    elif kind == "skip" and not reason:
                        problems.append(f"{relpath}:{marker[0]}: 'snippet: skip' needs a reason "
                                        "(<!-- snippet: skip, a synopsis -->)")
                blocks.append(Block(relpath, i + 1, body, kind, reason))
            elif marker:
                problems.append(f"{relpath}:{marker[0]}: snippet comment before a ```{info} block, not ```cpp")
            marker = None
            i = end
        elif lines[i].strip() and marker:
            problems.append(f"{relpath}:{marker[0]}: snippet comment not followed by a ```cpp block")
            marker = None
        i += 1
    if marker:
        problems.append(f"{relpath}:{marker[0]}: snippet comment not followed by a ```cpp block")
    return blocks


class Unit:
    """The generated translation unit, with #line directives back to the docs."""

    def __init__(self, filename):
        self.filename, self.lines = filename, []

    def add(self, text):
        self.lines += text.split("\n")

    def add_from(self, path, line, text_lines):
        self.lines.append(f'#line {line} "{path}"')
        self.lines += text_lines
        # Back to the generated file: the next line gets its own (1-based) number.
        self.lines.append(f'#line {len(self.lines) + 2} "{self.filename}"')

    def text(self):
        return "\n".join(self.lines) + "\n"


def generate(blocks, filename):
    unit = Unit(filename)
    unit.add("// Generated by tests/docs/check_snippets.py from the docs' ```cpp blocks: do not edit.")
    seen = set()
    for b in blocks:  # every block's includes, first, where the block has them
        for n, l in enumerate(b.lines):
            if INCLUDE.match(l) and l.split("//")[0].strip() not in seen:
                seen.add(l.split("//")[0].strip())
                unit.add_from(b.path, b.line + 1 + n, [l])
    unit.add("\n".join(f"#include {h}" for h in PRELUDE))
    unit.add(CONTEXT_TYPES)
    params = ",\n".join("    [[maybe_unused]] " + p for p in CONTEXT.split(",\n"))
    for k, b in enumerate(blocks):
        body = ["" if INCLUDE.match(l) else l for l in b.lines]
        unit.add(f"\n// {b.name()} ({b.kind})\nnamespace snippet_{k} {{")
        if b.kind == "whole":
            unit.add_from(b.path, b.line + 1, [MAIN.sub(r"\1auto snippet_main(", l) for l in body])
        elif b.kind == "namespace":
            unit.add(SCOPE)
            unit.add_from(b.path, b.line + 1, body)
        else:
            unit.add(SCOPE)
            unit.add(f"asio::awaitable<void> snippet(\n{params})\n{{\n{{")
            unit.add_from(b.path, b.line + 1, body)
            unit.add("}\nco_return;\n}")
        unit.add("}")
    return unit.text()


def main():
    args = sys.argv[1:]
    listing = bool(args) and args[0] == "--list"
    args = args[1:] if listing else args
    if not args:
        sys.exit(__doc__)
    root = args[0]
    out_dir = args[1] if len(args) > 1 else None
    compiler = args[2:] or shlex.split(os.environ.get("CXX", "c++"))

    docs = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(root, "docs"))
                                  if f.endswith(".md"))
    problems, blocks = [], []
    for d in docs:
        blocks += read_blocks(root, d, problems)
    if listing:
        for b in blocks:
            print(f"{b.name()}: {b.kind}" + (f" ({b.reason})" if b.reason else ""))
        return 0
    for p in problems:
        print(f"FAIL {p}")
    compiled = [b for b in blocks if b.kind != "skip"]
    if not compiled:
        print(f"no ```cpp block found in {root}: wrong SOURCE_ROOT?")
        return 1

    with tempfile.TemporaryDirectory(prefix="evolink-snippets-") as tmp:
        out_dir = out_dir or tmp
        os.makedirs(out_dir, exist_ok=True)
        tu = os.path.join(out_dir, "snippets.cpp")
        with open(tu, "w") as f:
            f.write(generate(compiled, "snippets.cpp"))
        # Compiled from OUT_DIR, so that the names in #line resolve to the docs.
        cmd = compiler + FLAGS + ["-I", os.path.abspath(os.path.join(root, "include")), "snippets.cpp"]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=out_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with proc.stdout:
            out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # CPU time: the machine may be busy
        proc.returncode = os.waitstatus_to_exitcode(status)
        secs = time.monotonic() - start

        counts = ", ".join(f"{sum(b.kind == k for b in blocks)} {k}" for k in KINDS)
        print(f"{len(blocks)} ```cpp blocks in {len(docs)} files ({counts}): "
              f"one -fsyntax-only compile, {secs:.0f} s, {usage.ru_utime + usage.ru_stime:.0f} s of CPU")
        if proc.returncode != 0:
            # Diagnostics start with their location ("docs/x.md:12:5: error:", "...: required
            # from here"); "In file included from README.md:71" is only the include chain.
            cited = {(m.group(1), int(m.group(2)))
                     for m in re.finditer(r"^((?:README|docs/[\w.-]+)\.md):(\d+):", out, re.M)}
            bad = [b for b in compiled if any(p == b.path and b.line <= n <= b.last for p, n in cited)]
            for b in bad:
                print(f"FAIL {b.path}, the ```cpp block at line {b.line} ({b.kind}) does not compile")
            if not bad:
                print(f"FAIL: the generated code around the blocks does not compile ({tu})")
            if any(b.kind == "coroutine" for b in bad):
                print("(a block without a snippet comment is compiled as the body of a coroutine; the "
                      "comments for other kinds: docs/building.md#the-headers-and-the-docs-code-compiled)")
            print(f"$ (cd {out_dir} && {shlex.join(cmd)})\n{out.rstrip()}")
            return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
