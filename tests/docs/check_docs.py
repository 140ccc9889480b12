#!/usr/bin/env python3
"""Checks that the docs' tables match the public headers.

Usage: check_docs.py [SOURCE_ROOT] [--list]

The public headers are include/evolink/*.hpp, include/evolink/testing/*.hpp
and include/evolink/redis/*.hpp
(namespaces named `detail` and types nested in other types are private). From
them it reads every `enum class` and its enumerators, and every `struct` and
its public data members (static members, functions, constructors and `using`
aliases are not data members).

The convention in docs/*.md: a table documents the type that the nearest
text above it names in backticks (`retry_policy`, `evolink::errc`,
`enum class task_status {...}`), looking up through the paragraph lines to
the heading of its section, closest first. The names in a table are the
backticked names in the first cell of each row (`invalid_request` (1),
`initial_backoff`, `multiplier`), or, for an enum, `type::name` anywhere in
the row (`files_errc::file_too_large`).

Only tables whose first header cell is one of TABLE_KINDS ("field",
"value"...) list names. A ```cpp block of the docs that declares a public
type whole (`enum class image_format { ... };`, `struct X { ... };`) must
declare exactly its enumerators or members too.

Every enum, every `*_options` and `*_policy` struct and the fake server's
`task_script` and `canned_response` must be documented by a table or a
declaration; any other struct that has a table (`diagnostics`, `task`, the
requests...) is checked too. For each type, the names of all its tables
together must be exactly its enumerators or members. Exit status 1 on drift,
with one line per problem saying what to add or remove where.
"""
import os
import re
import sys

ALWAYS_REQUIRED = {"task_script", "canned_response"}


def strip_code(text):
    """Comments and string/char literals blanked out (same length, newlines kept)."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])\'', re.S)

    def blank(m):
        s = m.group(0)
        keep = '""' if s.startswith('"') else ("''" if s.startswith("'") else "")
        return keep + re.sub(r"[^\n]", " ", s[len(keep):])

    return pattern.sub(blank, text)


def matching_brace(text, open_at):
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced braces")


def scan_types(text):
    """Yields (kind, name, body_start, body_end, public) for every struct and enum class."""
    stack = []  # (kind, name)
    last = 0  # where the text before the next brace begins
    for i, c in enumerate(text):
        if c in ";":
            last = i + 1
        elif c == "{":
            before = text[last:i]
            m_ns = re.search(r"\bnamespace\s+([\w:]*)\s*$", before)
            m_enum = re.search(r"\benum\s+class\s+(\w+)\s*(?::[^;{}]*)?$", before)
            m_type = re.search(r"\b(struct|class)\s+(\w+)(?:\s+final)?\s*(?::[^;{}]*)?$", before)
            if m_ns:
                stack.append(("namespace", m_ns.group(1)))
            elif m_enum or m_type:
                kind = "enum" if m_enum else m_type.group(1)
                name = m_enum.group(1) if m_enum else m_type.group(2)
                private = any(k == "namespace" and "detail" in n.split("::") for k, n in stack) or any(
                    k in ("struct", "class", "enum", "block") for k, _ in stack)
                yield kind, name, i + 1, matching_brace(text, i), not private
                stack.append((kind, name))
            else:
                stack.append(("block", ""))
            last = i + 1
        elif c == "}":
            if stack:
                stack.pop()
            last = i + 1


def enumerators(body):
    names = []
    for part in body.split(","):
        part = part.split("=")[0].strip()
        if re.fullmatch(r"\w+", part):
            names.append(part)
    return names


def statements(body):
    """The struct body's top-level declarations; function bodies dropped."""
    out, current, i = [], "", 0
    while i < len(body):
        c = body[i]
        if c == "{":
            end = matching_brace(body, i)
            if re.search(r"\)\s*(const\s*)?(noexcept\s*)?(override\s*)?$", current) or re.search(
                    r"\b(struct|class|enum|union)\b", current):
                out.append(FUNCTION + current)  # a function or a nested type: dropped below
                current = ""
            else:
                current += body[i:end + 1]  # a brace initializer
            i = end + 1
            continue
        if c == ";":
            out.append(current)
            current = ""
        else:
            current += c
        i += 1
    return out


FUNCTION = "\0"


def without_nested(s, open_c, close_c):
    out, depth = "", 0
    for c in s:
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
        elif depth == 0:
            out += c
    return out


def data_members(body, kind):
    names = []
    public = kind == "struct"
    for st in statements(body):
        while True:  # access specifiers end up at the start of a declaration
            m = re.match(r"\s*(public|private|protected)\s*:(?!:)", st)
            if not m:
                break
            public = m.group(1) == "public"
            st = st[m.end():]
        st = " ".join(st.split())
        if not public or not st or st.startswith(FUNCTION):
            continue
        if re.match(r"(static|using|friend|template|typedef|enum|struct|class)\b", st) or "operator" in st:
            continue
        flat = without_nested(without_nested(st, "<", ">"), "{", "}")
        decls = []
        for part in flat.split(","):
            part = part.split("=")[0]
            decls.append(part)
        if "(" in decls[0]:
            continue  # a function or constructor declaration
        for part in decls:
            m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", part)
            if m:
                names.append(m.group(1))
    return names


def declarations(text, where_of):
    """{name: {kind, names, where}} of the public structs and enums declared in C++ `text`."""
    text = strip_code(text)
    found = {}
    for kind, name, start, end, public in scan_types(text):
        if not public or kind == "class":
            continue
        body = text[start:end]
        names = enumerators(body) if kind == "enum" else data_members(body, kind)
        found[name] = {"kind": kind, "names": names, "where": where_of(text.count("\n", 0, start))}
    return found


def read_headers(root):
    types = {}
    for sub in ("include/evolink", "include/evolink/testing", "include/evolink/redis"):
        folder = os.path.join(root, sub)
        for fname in sorted(os.listdir(folder)):
            if not fname.endswith(".hpp"):
                continue
            path = os.path.join(folder, fname)
            rel = os.path.relpath(path, root)
            types.update(declarations(open(path, encoding="utf-8").read(), lambda n, rel=rel: "%s:%d" % (rel, n + 1)))
    return types


def read_code_blocks(root, types):
    """Yields (name, doc path, line, declared names) for the public types the
    docs' ```cpp blocks declare (`struct X { ... };`, `enum class X { ... };`)."""
    docs = os.path.join(root, "docs")
    for fname in sorted(os.listdir(docs)):
        if not fname.endswith(".md"):
            continue
        rel = os.path.join("docs", fname)
        lines = open(os.path.join(docs, fname), encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            if not lines[i].startswith("```c"):
                i += 1
                continue
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            code = "\n".join(lines[i + 1:end])
            try:
                found = declarations(code, lambda n, first=i + 2: first + n)
            except ValueError:
                found = {}  # a fragment with unbalanced braces declares nothing whole
            for name, d in found.items():
                if name in types and d["kind"] == types[name]["kind"]:
                    yield name, rel, d["where"], d["names"]
            i = end + 1


SPAN = re.compile(r"`([^`]+)`")
# The first header cell of the tables that list a type's members or enumerators.
TABLE_KINDS = {"field", "member", "value", "enumerator", "status", "option", "code"}


def subject_of(span, types):
    span = span.strip()
    m = re.match(r"(?:enum\s+class|struct)\s+(\w+)", span)
    if m and m.group(1) in types:
        return m.group(1)
    span = re.sub(r"^(evolink::)?(testing::)?", "", span)
    return span if span in types else None


def cells(row):
    row = row.strip().strip("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def read_tables(root, types):
    """Yields (subject, doc path, line, {name: line}) for every table with a subject."""
    docs = os.path.join(root, "docs")
    for fname in sorted(os.listdir(docs)):
        if not fname.endswith(".md"):
            continue
        rel = os.path.join("docs", fname)
        lines = open(os.path.join(docs, fname), encoding="utf-8").read().split("\n")
        in_code, i = False, 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("```"):
                in_code = not in_code
            is_table = not in_code and line.startswith("|") and i + 1 < len(lines) and re.match(
                r"^\|[\s:|-]+\|\s*$", lines[i + 1])
            if not is_table:
                i += 1
                continue
            subject = find_subject(lines, i, types)
            end = i + 2
            rows = {}
            while end < len(lines) and lines[end].startswith("|"):
                for name in row_names(lines[end], subject, types):
                    rows.setdefault(name, end + 1)
                end += 1
            if subject:
                yield subject, rel, i + 1, rows
            i = end


def find_subject(lines, table_at, types):
    """The type named by the paragraph right above the table (closest line
    first), else by the heading of its section; None for a table whose
    first column is not one of TABLE_KINDS."""
    if cells(lines[table_at])[0].lower() not in TABLE_KINDS:
        return None
    j = table_at - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    candidates = []
    while j >= 0 and lines[j].strip() and not lines[j].startswith(("#", "|", "```")):
        candidates.append(lines[j])
        j -= 1
    while j >= 0 and not lines[j].startswith("#"):
        j -= 1
    if j >= 0:
        candidates.append(lines[j])
    for line in candidates:
        for span in SPAN.findall(line):
            s = subject_of(span, types)
            if s:
                return s
    return None


def row_names(row, subject, types):
    cs = cells(row)
    if not subject:
        return []
    if types[subject]["kind"] == "enum":
        qualified = re.findall(r"`(?:evolink::)?" + subject + r"::(\w+)`", row)
        if qualified:
            return qualified
    return [s for s in SPAN.findall(cs[0]) if re.fullmatch(r"\w+", s)]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "..", ".."))
    types = read_headers(root)
    documented = {}
    for subject, doc, line, rows in read_tables(root, types):
        documented.setdefault(subject, []).append((doc, line, rows))
    problems = []
    for name, doc, line, names in read_code_blocks(root, types):
        documented.setdefault(name, [])
        t = types[name]
        what = "enumerator" if t["kind"] == "enum" else "member"
        for n in t["names"]:
            if n not in names:
                problems.append("%s:%d: the declaration of `%s` lacks %s `%s` (declared at %s): add it" %
                                (doc, line, name, what, n, t["where"]))
        for n in names:
            if n not in t["names"]:
                problems.append("%s:%d: the declaration of `%s` has %s `%s`, which %s does not declare (%s): remove "
                                "or rename it" % (doc, line, name, what, n, name, t["where"]))
    if "--list" in argv:
        for name in sorted(documented):
            print(name, [(d, l) for d, l, _ in documented[name]])
        return 0
    for name in sorted(types):
        t = types[name]
        required = t["kind"] == "enum" or name.endswith(("_options", "_policy")) or name in ALWAYS_REQUIRED
        what = "enumerator" if t["kind"] == "enum" else "member"
        if name not in documented:
            if required:
                problems.append("%s: %s %s is documented by no table in docs/: add a table under a heading or line "
                                "naming `%s` (or declare it whole in a ```cpp block), one row per %s: %s" % (t["where"], t["kind"], name, name, what,
                                                                     ", ".join("`%s`" % n for n in t["names"])))
            continue
        tables = documented[name]
        if not tables:
            continue  # declared in a code block only: checked above
        seen = {}
        for doc, line, rows in tables:
            for row_name, row_line in rows.items():
                seen.setdefault(row_name, (doc, row_line))
        first_doc, first_line, _ = tables[0]
        for n in t["names"]:
            if n not in seen:
                problems.append("%s:%d: the table of `%s` lacks %s `%s` (declared at %s): add a row for it" %
                                (first_doc, first_line, name, what, n, t["where"]))
        for n, (doc, line) in sorted(seen.items(), key=lambda kv: kv[1]):
            if n not in t["names"]:
                problems.append("%s:%d: the table of `%s` has `%s`, which %s does not declare (%s): remove or "
                                "rename the row" % (doc, line, name, n, name, t["where"]))
    for p in problems:
        print(p)
    if problems:
        print("check_docs: %d difference(s) between the docs' tables and the headers" % len(problems))
        return 1
    print("check_docs: %d documented types match the headers" % len(documented))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
