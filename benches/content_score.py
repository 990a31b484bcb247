#!/usr/bin/env python3
"""Score `dupstrip clean --mode annotate` (or `boilerplate strip --mode annotate`)
output on the corpora of content_corpus.py.

    python3 benches/content_score.py ANNOTATED.jsonl [TRUTH.jsonl]

Without a truth file: per source, the share of non-blank lines removed and the
documents that lost more than half of their non-blank lines. With one (planted
boilerplate): line precision and recall of the planted lines, and the share of the
documents' own lines removed per source. Prints one JSON object.
"""
import json
import sys


def removed_lines(rec):
    ranges = rec.get("dupstrip", {}).get("boilerplate") or []
    text = rec["text"]
    out = []
    pos = 0
    data = text.encode("utf-8")
    for i, line in enumerate(data.split(b"\n")):
        start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        out.append((i, any(a <= start < b for a, b in ranges)))
    return out


def main():
    annotated = sys.argv[1]
    truth = {}
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            r = json.loads(line)
            truth[r["id"]] = set(r["boilerplate_lines"])
    by = {}
    tp = fp = fn = 0
    for line in open(annotated):
        rec = json.loads(line)
        src = rec.get("source", "?")
        s = by.setdefault(src, {"documents": 0, "lines": 0, "removed": 0, "over_half": 0})
        planted = truth.get(rec["id"], set())
        own = gone = 0
        for i, stripped in removed_lines(rec):
            if i in planted:
                tp += stripped
                fn += not stripped
                continue
            own += 1
            gone += stripped
            fp += stripped
        s["documents"] += 1
        s["lines"] += own
        s["removed"] += gone
        s["over_half"] += gone * 2 > own
    result = {"by_source": {}}
    for src, s in sorted(by.items()):
        result["by_source"][src] = {
            "documents": s["documents"],
            "share_of_own_lines_removed": round(s["removed"] / max(s["lines"], 1), 5),
            "documents_losing_over_half": s["over_half"],
        }
    tot = sum(s["lines"] for s in by.values())
    result["share_of_own_lines_removed"] = round(sum(s["removed"] for s in by.values()) / max(tot, 1), 5)
    result["documents_losing_over_half"] = sum(s["over_half"] for s in by.values())
    if truth:
        result["planted_precision"] = round(tp / max(tp + fp, 1), 4)
        result["planted_recall"] = round(tp / max(tp + fn, 1), 4)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
