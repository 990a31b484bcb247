#!/usr/bin/env bash
# Per-core throughput of every stage command (what a Spark executor core does), next
# to `clean -j 1` on the same corpus. Prints MB/s of record envelopes, docs/s and peak
# RSS per stage; the figures feed the 10 TB plan in ARCHITECTURE.md.
#
#   bash benches/stage.sh [MB]        (default 50 MB of generated news pages)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-50}
cargo build --release --locked --quiet --bin dupstrip
BIN=$PWD/target/release/dupstrip
OUT=${BENCH_OUT:-bench-out/stage}
mkdir -p "$OUT"
cd "$OUT"

# About 3.7 KB per page.
docs=$(( MB * 1000000 / 3700 ))
[ -s "news-$MB.jsonl" ] || "$BIN" synth --boilerplate --docs "$docs" --seed 3 -o "news-$MB.jsonl" --truth /dev/null 2>/dev/null
python3 - "news-$MB.jsonl" > envelopes.jsonl <<'EOF'
import sys
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in enumerate(f):
        line = line.rstrip("\n")
        if line.strip():
            print('{"row":%d,"at":"news.jsonl:%d","record":%s}' % (i, i + 1, line))
EOF
bytes=$(stat -c %s envelopes.jsonl)
n=$(wc -l < envelopes.jsonl)
"$BIN" stage config -o job.json

# time_stage NAME INPUT ARGS...: wall seconds, peak RSS.
time_stage() {
    local name=$1 input=$2
    shift 2
    /usr/bin/time -f "%e %M" -o time.txt "$BIN" stage "$@" < "$input" > "$name.out"
    read -r secs kb < time.txt
    local ib
    ib=$(stat -c %s "$input")
    python3 -c "
import sys
s, kb, ib, b, n = float('$secs'), int('$kb'), int('$ib'), int('$bytes'), int('$n')
print(f'{\"$name\":<16} {s:7.2f} s  {ib/1e6/max(s,1e-3):7.1f} MB/s of its input  {n/max(s,1e-3):9.0f} corpus docs/s  {kb/1024:6.0f} MiB')
"
}

echo "corpus: $n pages, $(( bytes / 1000000 )) MB of envelopes, one thread per stage"
/usr/bin/time -f "%e %M" -o time.txt "$BIN" clean "news-$MB.jsonl" -o clean.jsonl -j 1 -q --save-rules rules.json
read -r secs kb < time.txt
python3 -c "print(f'{\"clean -j 1\":<16} {float(\"$secs\"):7.2f} s  {int(\"$bytes\")/1e6/float(\"$secs\"):7.1f} MB/s (whole job)  {int(\"$n\")/float(\"$secs\"):9.0f} docs/s  {int(\"$kb\")/1024:6.0f} MiB')"

time_stage "sketch stories" envelopes.jsonl sketch --config job.json --for stories
time_stage "sketch dedup" envelopes.jsonl sketch --config job.json --for dedup --rules rules.json
# Buckets and components as the Spark driver groups them (Python here, not timed).
python3 - <<'EOF'
import json
from collections import defaultdict

def buckets(path, out):
    rows, b = {}, defaultdict(list)
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        if d["sig"] is None:
            continue
        rows[d["row"]] = (line.rstrip("\n"), d)
        for i, k in enumerate(d["bands"]):
            b[(i, k)].append(d["row"])
    with open(out, "w") as f:
        for members in b.values():
            if len(members) >= 2:
                f.write('{"members":[' + ",".join(
                    json.dumps({"row": r, "sig": rows[r][1]["sig"], "len": rows[r][1]["len"]})
                    for r in members) + "]}\n")
    return rows

buckets("sketch stories.out", "buckets-stories.jsonl")
rows = buckets("sketch dedup.out", "buckets-dedup.jsonl")
parent = {}
def find(x):
    while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
envelopes = {}
for line in open("envelopes.jsonl", encoding="utf-8"):
    envelopes[int(line[7:line.index(",")])] = line.rstrip("\n")
open("edges-dedup.jsonl", "w").close()
import subprocess
edges = subprocess.run(["../../target/release/dupstrip", "stage", "confirm", "--config", "job.json",
                        "--for", "dedup"], stdin=open("buckets-dedup.jsonl"),
                       capture_output=True, check=True).stdout.decode().splitlines()
for e in edges:
    e = json.loads(e)
    a, b = find(e["a"]), find(e["b"])
    parent[max(a, b)] = min(a, b)
comps = defaultdict(list)
for r in list(parent):
    comps[find(r)].append(r)
with open("components.jsonl", "w") as f:
    for members in comps.values():
        f.write('{"members":[' + ",".join(
            '{"sketch":%s,"input":%s}' % (rows[r][0], envelopes[r]) for r in sorted(members))
            + "]}\n")
EOF
time_stage "confirm stories" buckets-stories.jsonl confirm --config job.json --for stories
time_stage "confirm dedup" buckets-dedup.jsonl confirm --config job.json --for dedup
time_stage "assign" components.jsonl assign --config job.json --rules rules.json
# The Spark driver's one-task components at its default limit: 5 million edges among
# 4 million rows (random pairs, rows numbered as the driver numbers them), as rows.
python3 -c "
import random
r = random.Random(5)
rows = 4_000_000
print('\n'.join('%d\x01%d' % ((r.randrange(rows) << 2) + (1 << 40), (r.randrange(rows) << 2) + (1 << 40))
                 for _ in range(5_000_000)))" > edges-5m.txt
time_stage "components 5M" edges-5m.txt components --delimited
read -r _ kb < time.txt
echo "  components: $(( kb * 1024 / 5000000 )) bytes of peak RSS an edge"
# Every signature of a sketch through one process, as the driver does up to
# --candidates-task-docs records; then at that default limit, a million random
# signatures (as rows), for the memory.
time_stage "candidates stories" "sketch stories.out" candidates --config job.json --for stories
time_stage "candidates dedup" "sketch dedup.out" candidates --config job.json --for dedup
python3 -c "
import os
print(''.join('%d\x01%d\x01%s\n' % ((i << 2) + (1 << 40), 3000, os.urandom(256).hex())
              for i in range(1_000_000)), end='')" > sigs-1m.txt
time_stage "candidates 1M" sigs-1m.txt candidates --config job.json --for dedup --delimited
read -r _ kb < time.txt
echo "  candidates: $(( kb * 1024 / 1000000 )) bytes of peak RSS a signature"
time_stage "apply" envelopes.jsonl apply --config job.json --rules rules.json
echo "(examples/learn/rules need the learned keys; examples costs about what apply does)"
cmp -s apply.out clean.jsonl || echo "note: apply without --drop keeps duplicates, so it differs from clean.jsonl"
