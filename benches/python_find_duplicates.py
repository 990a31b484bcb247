#!/usr/bin/env python3
"""One tool's near-duplicate search over texts already in memory, timed end to end.

    python benches/python_find_duplicates.py TOOL CORPUS CLUSTERS [--threads N]

TOOL is one of
  dupstrip-matched  dupstrip.find_duplicates(texts) with rensa's settings:
                    str.split() tokens (shingle="whitespace", no normalization),
                    word 5-grams, 128 permutations, 16 bands x 8 rows, threshold
                    0.8, pairs decided by the estimate;
  dupstrip          dupstrip.find_duplicates(texts) with its defaults (threshold
                    0.8, word 5-grams, 128 permutations, normalization, exact
                    verification of borderline pairs);
  dupstrip-arrow    the defaults, with the texts as a pyarrow string column
                    (read from CORPUS with pyarrow.json);
  rensa             rensa's documented path: one RMinHash per document updated
                    with its shingles (tokenised in Python, str.split() word
                    5-grams), RMinHashLSH(threshold=0.8, num_perm=128,
                    num_bands=16); in input order each document queries the
                    documents kept so far and is a duplicate of the first candidate
                    whose estimated Jaccard reaches 0.8, else it is kept.

The texts are read from CORPUS (JSON Lines) into a Python list (for
dupstrip-arrow: into an Arrow column) before the clock starts. Writes the clusters in dupstrip's format (for examples/score.rs) and prints
one JSON line: seconds, documents, bytes of text, the process's resident memory
with the texts loaded (`texts_rss`) and its peak during the call (`peak_rss`; the
kernel's high-water mark is reset after loading, through /proc/self/clear_refs).
"""

import argparse
import gc
import json
import time


def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def load(path):
    ids, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                ids.append(r["id"])
                texts.append(r["text"])
    return ids, texts


def rensa_duplicates(texts, threshold=0.8, num_perm=128, bands=16, n=5, seed=42):
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=bands)
    kept = {}
    out = [None] * len(texts)
    for key, text in enumerate(texts):
        tokens = text.split()
        if not tokens:
            continue
        if len(tokens) < n:
            shingles = [" ".join(tokens)]
        else:
            shingles = [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        m = RMinHash(num_perm=num_perm, seed=seed)
        m.update(shingles)
        for cand in sorted(lsh.query(m)):
            if m.jaccard(kept[cand]) >= threshold:
                out[key] = cand
                break
        else:
            kept[key] = m
            lsh.insert(key, m)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tool", choices=["dupstrip-matched", "dupstrip", "dupstrip-arrow", "rensa"])
    ap.add_argument("corpus")
    ap.add_argument("clusters")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    ids, texts = load(a.corpus)
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    if a.tool == "dupstrip-arrow":
        # As a datasets/pyarrow user holds them: an Arrow column, read from the file.
        import pyarrow.json

        del texts
        gc.collect()
        texts = pyarrow.json.read_json(a.corpus).column("text")

    if a.tool == "rensa":
        gc.collect()
        texts_rss = rss("VmRSS")
        reset_peak()
        start = time.perf_counter()
        dup_of = rensa_duplicates(texts)
    else:
        import dupstrip

        options = {}
        if a.tool == "dupstrip-matched":
            options = dict(shingle="whitespace", no_normalize="all", verify="estimate", bands=16, rows=8, seed=42)
        data = texts
        gc.collect()
        texts_rss = rss("VmRSS")
        reset_peak()
        start = time.perf_counter()
        dup_of = dupstrip.find_duplicates(data, threshold=0.8, ngram=5, num_perm=128, threads=a.threads, **options)
    seconds = time.perf_counter() - start

    members = {}
    for key, of in enumerate(dup_of):
        if of is not None:
            members.setdefault(of, []).append(key)
    with open(a.clusters, "w", encoding="utf-8") as out:
        for n, keep in enumerate(sorted(members)):
            rows = [{"id": ids[keep], "similarity": 1.0}] + [{"id": ids[k], "similarity": 1.0} for k in members[keep]]
            out.write(json.dumps({"cluster": n, "keep": ids[keep], "members": rows}) + "\n")
    peak = rss("VmHWM")
    print(json.dumps({"tool": a.tool, "seconds": round(seconds, 3), "documents": len(dup_of),
                      "text_bytes": text_bytes, "texts_rss": texts_rss, "peak_rss": peak}))


if __name__ == "__main__":
    main()
