#!/usr/bin/env python3
"""How close rensa's estimates come to exact Jaccard on the planted pairs of a
`dupstrip synth` corpus: the rensa counterpart of `examples/pair_accuracy.rs`
(`--whitespace` settings: `str.split()` tokens, word 5-grams, 128 permutations).

    bench-out/venv/bin/python benches/peer_accuracy.py CORPUS TRUTH
"""

import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import shingles  # noqa: E402


def main():
    from rensa import RMinHash

    corpus, truth = sys.argv[1], sys.argv[2]
    texts = {}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts[r["id"]] = r["text"]
    families = collections.defaultdict(list)
    with open(truth, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            families[r["family"]].append(r["id"])
    sets = {}
    for members in families.values():
        if len(members) > 1:
            for i in members:
                sets[i] = shingles(texts[i], 5)
    print("scheme            pairs   rmse    bias     kept_at_0.8")
    for seed in (1, 2, 3):
        sketches = {}
        for i, s in sets.items():
            m = RMinHash(128, seed)
            m.update(s)
            sketches[i] = m
        n = at = kept = 0
        sq = total = 0.0
        for members in families.values():
            for a in range(len(members)):
                for b in range(a + 1, len(members)):
                    x, y = members[a], members[b]
                    sx, sy = set(sets[x]), set(sets[y])
                    if not sx or not sy:
                        continue
                    exact = len(sx & sy) / len(sx | sy)
                    if exact < 0.7:
                        continue
                    est = sketches[x].jaccard(sketches[y])
                    n += 1
                    sq += (est - exact) ** 2
                    total += est - exact
                    if exact >= 0.8:
                        at += 1
                        kept += est >= 0.8
        print(f"rensa seed {seed:<7} {n:<7} {(sq / n) ** 0.5:.4f}  {total / n:+.4f}  {kept / at:.4f}")


if __name__ == "__main__":
    main()
