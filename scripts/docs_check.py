#!/usr/bin/env python3
"""Check the documentation: relative links resolve, and the README stays short.

    python3 scripts/docs_check.py [--max-readme-lines 260]

Rules (issue 17):
  * every relative link in README.md, ARCHITECTURE.md and docs/*.md names a file or
    folder that exists (paths are relative to the file holding the link);
  * a link with an #anchor into a Markdown file (or into the same file) names a
    heading of that file, by GitHub's rules: lowercase, punctuation removed, spaces
    to '-', and '-1', '-2', ... appended to repeated headings;
  * README.md has at most --max-readme-lines lines.

Links inside fenced code blocks and inline code are ignored, as are absolute links
(http:, https:, mailto:). Prints one line per problem and exits 1, else one ok line.
Python 3 standard library only.
"""

import argparse
import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^\s*(```+|~~~+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or ![alt](target), with an optional "title"; text may hold `code`.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is None:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.strip().lower()
    # Keep letters, digits, marks, '_', '-' and spaces; drop all other punctuation.
    out = []
    for ch in text:
        if ch.isalnum() or ch in "_- " or _is_mark(ch):
            out.append(ch)
    return "".join(out).replace(" ", "-")


def _is_mark(ch):
    return unicodedata.category(ch).startswith("M")


def anchors(path, cache={}):
    """The set of anchors GitHub gives the headings of a Markdown file."""
    if path not in cache:
        seen = {}
        found = set()
        text = path.read_text(encoding="utf-8")
        for _, line in prose_lines(text):
            m = HEADING.match(line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        # Explicit HTML anchors: <a name="x"> or id="x".
        for m in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", text):
            found.add(m.group(1))
        cache[path] = found
    return cache[path]


def links(text):
    """(line number, target) of every link outside code."""
    for number, line in prose_lines(text):
        m = REF_DEF.match(line)
        if m:
            yield number, m.group(1)
            continue
        bare = INLINE_CODE.sub(lambda c: " " * len(c.group(0)), line)
        for m in LINK.finditer(bare):
            yield number, m.group(1)


def check_file(path, problems):
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(ROOT)
    for number, target in links(text):
        where = f"{rel}:{number}"
        if not target:
            problems.append(f"{where}: empty link target")
            continue
        if ABSOLUTE.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part)
        if file_part.startswith("/"):
            dest = ROOT / file_part.lstrip("/")
        elif file_part:
            dest = path.parent / file_part
        else:
            dest = path
        if not dest.exists():
            problems.append(f"{where}: link to missing file {target}")
            continue
        try:
            dest.resolve().relative_to(ROOT)
        except ValueError:
            problems.append(f"{where}: link leaves the repository: {target}")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix.lower() not in (".md", ".markdown"):
                problems.append(f"{where}: anchor into a file that is not Markdown: {target}")
            elif unquote(anchor) not in anchors(dest.resolve()):
                problems.append(f"{where}: no heading for #{anchor} in {dest.resolve().relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-readme-lines", type=int, default=260)
    args = parser.parse_args()

    files = [ROOT / "README.md", ROOT / "ARCHITECTURE.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    problems = []
    for path in files:
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)}: missing")
            continue
        check_file(path, problems)

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = len(readme.splitlines())
    if lines > args.max_readme_lines:
        problems.append(f"README.md: {lines} lines, more than {args.max_readme_lines}")

    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"docs ok: {len(files)} files, links and anchors resolve, README.md {lines} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
