#!/usr/bin/env python3
"""Check the source layout: file and function sizes, and import cycles.

    python3 scripts/layout_check.py [--max-lines 900] [--max-fn 120] [--graph]

Rules (issue 17):
  * no file under src/ over --max-lines lines;
  * no function (free, method or test) over --max-fn lines, counted from the
    line of `fn` to the line of its closing brace;
  * no cycle in the graph of top-level library modules (an edge A -> B when a
    file of module A names `crate::B`), and none among the files of one folder
    module (an edge x -> y when `src/m/x.rs` names `super::y`, `crate::m::y`, or
    an item defined at the top of y.rs, also when it came through `use super::*`);
    a child naming its parent (`super::Item` defined in mod.rs) is not an edge:
    mod.rs is the folder's facade.

  * src/lib.rs declares the modules in an order in which each uses only modules
    declared before it, or the shared ones declared after the comment
    `// Shared by every stage.` (the order data flows through them).

`--graph` prints the top-level module graph in the order data flows through it.
Exits 1 with one line per violation. The scanner skips comments, strings, raw
strings and char literals, so braces inside them do not count.
"""

import argparse
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
# The binary (main.rs and the cli folder) uses the library as `dupstrip::`; it is
# checked for sizes but is not a node of the library's graph.
BINARY = {"main", "cli"}


def strip_code(text):
    """Text with comments, string and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
            continue
        m = re.compile(r'b?r(#*)"').match(text, i)
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
            continue
        if c == "'":
            # A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            m = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'").match(text, i)
            if m:
                out.append("' '")
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def module_of(path):
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def functions(code):
    """(name, first line, last line) of every fn with a body."""
    found = []
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", code):
        # The body opens at the first `{` after the signature, unless a `;`
        # (a declaration without body) comes first.
        j = m.end()
        depth_paren = 0
        while j < len(code):
            ch = code[j]
            if ch in "([":
                depth_paren += 1
            elif ch in ")]":
                depth_paren -= 1
            elif ch == ";" and depth_paren == 0:
                j = -1
                break
            elif ch == "{" and depth_paren == 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        depth, k = 0, j
        while k < len(code):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, k) + 1
        found.append((m.group(1), first, last))
    return found


def crate_refs(code):
    """Every `crate::a::b...` path named, braces of `use crate::{..}` expanded."""
    refs = []
    for m in re.finditer(r"\bcrate\s*::\s*", code):
        j = m.end()
        if j < len(code) and code[j] == "{":
            depth, k = 0, j
            while k < len(code):
                depth += {"{": 1, "}": -1}.get(code[k], 0)
                if depth == 0:
                    break
                k += 1
            for item in split_top(code[j + 1 : k]):
                refs.append(path_head(item))
        else:
            refs.append(path_head(code[j:j + 200]))
    return [r for r in refs if r]


def split_top(s):
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def path_head(s):
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)(\s*::\s*([A-Za-z_][A-Za-z0-9_]*|\{))?", s)
    if not m:
        return None
    return (m.group(1), m.group(3))


def super_refs(code):
    heads = []
    for m in re.finditer(r"\bsuper\s*::\s*", code):
        j = m.end()
        if j < len(code) and code[j] == "{":
            k = code.find("}", j)
            heads += [path_head(x)[0] for x in split_top(code[j + 1 : k]) if path_head(x)]
        else:
            h = path_head(code[j:j + 100])
            if h:
                heads.append(h[0])
    return heads


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-lines", type=int, default=900)
    ap.add_argument("--max-fn", type=int, default=120)
    ap.add_argument("--graph", action="store_true")
    args = ap.parse_args()

    problems = []
    top = {}  # module -> set of modules it names
    folders = {}  # folder module -> {child -> set of siblings it names}
    for path in sorted(SRC.rglob("*.rs")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(SRC.parent)
        lines = text.count("\n")
        if lines > args.max_lines:
            problems.append(f"{rel}: {lines} lines (max {args.max_lines})")
        code = strip_code(text)
        for name, first, last in functions(code):
            if last - first + 1 > args.max_fn:
                problems.append(
                    f"{rel}:{first}: fn {name} is {last - first + 1} lines (max {args.max_fn})"
                )
        parts = module_of(path)
        if parts[0] in BINARY or parts == ["lib"]:
            continue
        node = top.setdefault(parts[0], set())
        for head, second in crate_refs(code):
            if head != parts[0]:
                node.add(head)
            elif len(parts) == 2 and second and second != parts[1]:
                folders.setdefault(parts[0], {}).setdefault(parts[1], set()).add(second)
        if len(parts) == 2:
            siblings = folders.setdefault(parts[0], {}).setdefault(parts[1], set())
            siblings.update(h for h in super_refs(code) if h != parts[1])

    # Items defined at the top of each child of a folder, found by name in its
    # siblings (a glob `use super::*` hides the path, not the name).
    defined = {}
    item = re.compile(
        r"^(?:pub(?:\([a-z]+\))? )?(?:fn|struct|enum|const|static|type|trait) ([A-Za-z_][A-Za-z0-9_]*)",
        re.M,
    )
    codes = {}
    for path in sorted(SRC.rglob("*.rs")):
        parts = module_of(path)
        if len(parts) == 2:
            code = strip_code(path.read_text(encoding="utf-8"))
            codes[tuple(parts)] = code
            defined[tuple(parts)] = set(item.findall(code))
    for (folder, child), code in codes.items():
        folders.setdefault(folder, {}).setdefault(child, set())
        own = defined[(folder, child)]
        for (f2, sib), names in defined.items():
            if f2 != folder or sib == child:
                continue
            for name in sorted(names - own):
                # A function counts where it is called or imported, so that a local
                # variable or a field of the same name is not taken for it.
                if name[0].islower():
                    # (not a method, not another module's function: `x.f(`, `m::f(`)
                    pattern = r"(?<![.\w:])%s\s*\(|use super::[^;]*\b%s\b" % (name, name)
                else:
                    pattern = r"(?<![.\w])" + re.escape(name) + r"\b"
                if re.search(pattern, code):
                    folders.setdefault(folder, {}).setdefault(child, set()).add(sib)
                    break

    # lib.rs: modules in data-flow order; shared ones after the marker comment.
    order, shared = [], set()
    in_shared = False
    for line in (SRC / "lib.rs").read_text(encoding="utf-8").splitlines():
        if line.strip() == "// Shared by every stage.":
            in_shared = True
        m = re.match(r"pub mod ([a-z_]+);", line)
        if m:
            order.append(m.group(1))
            if in_shared:
                shared.add(m.group(1))
    for mod in sorted(set(top) - set(order)):
        problems.append(f"src/lib.rs: module {mod} is not declared")
    for i, mod in enumerate(order):
        if mod in shared:
            continue
        for dep in sorted(top.get(mod, set()) & set(top)):
            if dep not in shared and dep not in order[:i]:
                problems.append(f"src/lib.rs: {mod} uses {dep}, which is declared after it")

    for comp in cycles(top):
        problems.append("import cycle between modules: " + " <-> ".join(comp))
    for folder, graph in sorted(folders.items()):
        children = set(graph)
        sub = {c: {s for s in deps if s in children} for c, deps in graph.items()}
        for comp in cycles(sub):
            problems.append(f"import cycle inside {folder}/: " + " <-> ".join(comp))

    if args.graph:
        for mod in sorted(top, key=lambda m: (len(closure(top, m)), m)):
            print(f"{mod:12} -> {', '.join(sorted(top[mod] & set(top))) or '-'}")
        for folder, graph in sorted(folders.items()):
            for child in sorted(graph):
                deps = sorted(d for d in graph[child] if d in graph)
                print(f"{folder + '/' + child:24} -> {', '.join(deps) or '-'}")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"layout ok: files <= {args.max_lines} lines, fns <= {args.max_fn} lines, no import cycles")


def closure(graph, start):
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        for w in graph.get(v, ()):
            if w not in seen and w in graph:
                seen.add(w)
                todo.append(w)
    return seen


if __name__ == "__main__":
    main()
