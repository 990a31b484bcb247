#!/usr/bin/env python3
"""Near-duplicate detection with datasketch or rensa, set up as their users would
and matched to `dupstrip dedup --shingle whitespace --no-normalize all`:

- tokens are `str.split()` pieces, shingles are word n-grams of them (a document
  with fewer than n tokens is one shingle; an empty document has none);
- 128 permutations, the same LSH bands x rows, threshold 0.8;
- documents are taken in input order: each one queries the index of the documents
  kept so far, is a duplicate of the first candidate whose *estimated* Jaccard is
  at least the threshold, and otherwise is kept and inserted.

Signatures are computed with each library's batch API (datasketch `MinHash.bulk`,
rensa `RMinHash.from_token_sets`) over batches of documents, so memory holds one
batch of shingle lists at a time.

Writes a clusters file in dupstrip's format (one JSON line per cluster with at
least two members: {"cluster", "keep", "members": [{"id", "similarity"}]}).

    python benches/peers.py {datasketch,rensa} CORPUS CLUSTERS [--bands B --rows R]
"""

import argparse
import json


def shingles(text, n):
    tokens = text.split()
    if not tokens:
        return []
    if len(tokens) < n:
        return [" ".join(tokens)]
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def batches(path, n, size):
    ids, sets = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            ids.append(record["id"])
            sets.append(shingles(record["text"], n))
            if len(ids) == size:
                yield ids, sets
                ids, sets = [], []
    if ids:
        yield ids, sets


class Datasketch:
    def __init__(self, threshold, num_perm, bands, rows, seed):
        from datasketch import MinHash, MinHashLSH

        self.MinHash = MinHash
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(bands, rows))
        self.num_perm, self.seed = num_perm, seed

    def signatures(self, sets):
        encoded = [[s.encode("utf-8") for s in shingle_set] for shingle_set in sets]
        return self.MinHash.bulk(encoded, num_perm=self.num_perm, seed=self.seed)

    def query(self, m):
        return self.lsh.query(m)

    def insert(self, key, m):
        self.lsh.insert(key, m, check_duplication=False)


class Rensa:
    def __init__(self, threshold, num_perm, bands, rows, seed):
        from rensa import RMinHash, RMinHashLSH

        self.RMinHash = RMinHash
        self.lsh = RMinHashLSH(threshold, num_perm, bands)
        self.num_perm, self.seed = num_perm, seed

    def signatures(self, sets):
        return self.RMinHash.from_token_sets(sets, self.num_perm, self.seed)

    def query(self, m):
        return self.lsh.query(m)

    def insert(self, key, m):
        self.lsh.insert(key, m)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tool", choices=["datasketch", "rensa"])
    ap.add_argument("corpus")
    ap.add_argument("clusters")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--bands", type=int, default=16)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", type=int, default=10000)
    a = ap.parse_args()
    # rensa takes the number of bands and derives rows from the permutations.
    if a.bands * a.rows != a.num_perm:
        ap.error("--bands x --rows must equal --num-perm")
    tool = (Datasketch if a.tool == "datasketch" else Rensa)(
        a.threshold, a.num_perm, a.bands, a.rows, a.seed
    )

    # Kept documents by integer key (their position in the input), with their
    # signatures for the estimate; duplicates by the key of the kept copy.
    kept = {}
    ids = []
    members = {}
    for batch_ids, sets in batches(a.corpus, a.ngram, a.batch):
        non_empty = [i for i, s in enumerate(sets) if s]
        sigs = tool.signatures([sets[i] for i in non_empty])
        for i, m in zip(non_empty, sigs):
            key = len(ids) + i
            best = None
            for cand in sorted(tool.query(m)):
                similarity = m.jaccard(kept[cand])
                if similarity >= a.threshold:
                    best = (cand, similarity)
                    break
            if best is None:
                kept[key] = m
                tool.insert(key, m)
            else:
                members.setdefault(best[0], []).append((key, best[1]))
        ids.extend(batch_ids)

    with open(a.clusters, "w", encoding="utf-8") as out:
        for n, keep in enumerate(sorted(members)):
            rows = [{"id": ids[keep], "similarity": 1.0}]
            rows += [{"id": ids[k], "similarity": s} for k, s in members[keep]]
            out.write(json.dumps({"cluster": n, "keep": ids[keep], "members": rows}) + "\n")


if __name__ == "__main__":
    main()
