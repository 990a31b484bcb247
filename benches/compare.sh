#!/usr/bin/env bash
# dupstrip against datasketch and rensa, and against the hardware floor, on one
# generated corpus, in one run:
#
#   bash benches/compare.sh [MB] [--mem-limit SIZE] [--seeds N]
#
# MB is the corpus size (default 200; 1000 for the 1 GB run). The corpus is a
# news-like JSONL file with planted near-duplicates (`dupstrip synth --seed 7`),
# kept under bench-out/ and reused by later runs. datasketch and rensa are
# installed with pip into bench-out/venv (versions pinned in
# benches/requirements.txt) and run by benches/peers.py with their batch APIs.
#
# Matched settings for every tool: str.split() tokens, word 5-grams, 128
# permutations, 16 bands x 8 rows, threshold 0.8, candidates confirmed by the
# estimated Jaccard (dupstrip: --shingle whitespace --no-normalize all
# --verify estimate). dupstrip with its default settings (normalization, Unicode
# words, auto verification) is one more row, scored against its own truth.
#
# Prints one table: wall and CPU seconds, docs/s, MB/s (10^6 bytes), peak RSS
# (kernel count, memory-mapped input pages included) and peak anonymous RSS (the
# process's own memory), pair precision and recall against the planted truth,
# each tool's wall time as a multiple of dupstrip's (matched, all cores), and the
# floor pass's speed as a multiple of dupstrip -j 1's.
#
# Recall at 0.8 moves by about ±0.002 with the hash seed (pairs near the threshold
# fall either side of it). --seeds N reruns every tool's matched run with seeds
# 1..N (dupstrip at all cores) and prints the mean and spread of precision and recall.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=200
seeds=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mem-limit) extra+=(--mem-limit "$2"); shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    *) mb=$1; shift ;;
  esac
done
out=bench-out/compare
venv=bench-out/venv
mkdir -p "$out"

echo "== build" >&2
cargo build --release --locked --quiet --bin dupstrip --example floor --example score
bin=target/release/dupstrip

echo "== peers (pip into $venv)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements.txt

# About 2,600 bytes per generated document.
docs=$(( mb * 1000000 / 2600 ))
corpus="bench-out/corpus-${mb}mb.jsonl"
truth="bench-out/truth-${mb}mb.jsonl"
if [ ! -f "$corpus" ]; then
  echo "== corpus: $docs documents" >&2
  "$bin" synth --docs "$docs" --seed 7 -o "$corpus" --truth "$truth"
fi

echo "== floor" >&2
target/release/examples/floor "$corpus" > "$out/floor.json"

matched=(--shingle whitespace --no-normalize all --verify estimate --bands 16 --rows 8)
cores=$(nproc)
run() { # name, score flag, command...
  local name=$1 flag=$2
  shift 2
  echo "== $name" >&2
  # Every run writes a new file, as a nightly job would.
  rm -f "$out/dupstrip.out.jsonl"
  python3 benches/measure.py -- "$@" > "$out/$name.time.json"
  target/release/examples/score "$corpus" "$truth" "$out/$name.clusters.jsonl" 0.8 $flag \
    > "$out/$name.score.json"
}
run "dupstrip-j1" --whitespace "$bin" dedup "$corpus" -o "$out/dupstrip.out.jsonl" -q -j 1 \
  "${matched[@]}" "${extra[@]}" --clusters "$out/dupstrip-j1.clusters.jsonl" \
  --report "$out/dupstrip-j1.report.json"
run "dupstrip-j$cores" --whitespace "$bin" dedup "$corpus" -o "$out/dupstrip.out.jsonl" -q \
  -j "$cores" "${matched[@]}" "${extra[@]}" --clusters "$out/dupstrip-j$cores.clusters.jsonl" \
  --report "$out/dupstrip-j$cores.report.json"
run "dupstrip-default-j$cores" "" "$bin" dedup "$corpus" -o "$out/dupstrip.out.jsonl" -q \
  -j "$cores" "${extra[@]}" --clusters "$out/dupstrip-default-j$cores.clusters.jsonl" \
  --report "$out/dupstrip-default-j$cores.report.json"
for tool in rensa datasketch; do
  run "$tool" --whitespace "$venv/bin/python" benches/peers.py "$tool" "$corpus" \
    "$out/$tool.clusters.jsonl"
done
rm -f "$out/dupstrip.out.jsonl"

python3 - "$out" "$corpus" "$cores" <<'PY'
import json, os, sys
out, corpus, cores = sys.argv[1], sys.argv[2], sys.argv[3]
size = os.path.getsize(corpus)
docs = sum(1 for _ in open(corpus, "rb"))
load = lambda p: json.load(open(os.path.join(out, p)))
floor = load("floor.json")
names = ["dupstrip-j1", f"dupstrip-j{cores}", f"dupstrip-default-j{cores}", "rensa", "datasketch"]
base = load(f"dupstrip-j{cores}.time.json")["wall_s"]
print(f"corpus: {corpus}, {size / 1e6:.1f} MB, {docs} documents; {cores} cores")
print(f"floor (1 thread, split on whitespace + xxh3 of every token): {floor['mb_per_s']:.0f} MB/s")
head = f"{'tool':<22} {'wall_s':>8} {'cpu_s':>8} {'docs/s':>9} {'MB/s':>7} {'rss_MiB':>8} {'anon_MiB':>9} {'precision':>9} {'recall':>7} {'x_dupstrip':>10}"
print(head)
for n in names:
    t, s = load(f"{n}.time.json"), load(f"{n}.score.json")
    w = t["wall_s"]
    print(f"{n:<22} {w:>8.2f} {t['cpu_s']:>8.2f} {docs / w:>9.0f} {size / 1e6 / w:>7.1f} "
          f"{t['peak_rss_mib']:>8.0f} {t['peak_anon_mib']:>9.0f} {s['precision']:>9.4f} "
          f"{s['recall']:>7.4f} {w / base:>10.2f}")
j1 = load("dupstrip-j1.time.json")["wall_s"]
rep = load("dupstrip-j1.report.json")
sketch = rep["timings"]["sketch"]
print(f"dupstrip -j 1 vs floor: {size / 1e6 / j1:.1f} MB/s = floor / {floor['mb_per_s'] * j1 / (size / 1e6):.2f}")
print(f"signatures (read + normalize + shingle + sketch, -j 1): {size / 1e6 / sketch:.1f} MB/s per core")
print(f"dupstrip -j {cores} vs -j 1: {j1 / base:.2f}x")
print("stage timings, dupstrip -j 1 (s):", rep["timings"])
print(f"stage timings, dupstrip -j {cores} (s):", load(f"dupstrip-j{cores}.report.json")["timings"])
PY

[ "$seeds" -gt 0 ] || exit 0
for s in $(seq 1 "$seeds"); do
  run "seed$s-dupstrip" --whitespace "$bin" dedup "$corpus" -o "$out/dupstrip.out.jsonl" -q \
    -j "$cores" "${matched[@]}" "${extra[@]}" --seed "$s" \
    --clusters "$out/seed$s-dupstrip.clusters.jsonl"
  for tool in rensa datasketch; do
    run "seed$s-$tool" --whitespace "$venv/bin/python" benches/peers.py "$tool" "$corpus" \
      "$out/seed$s-$tool.clusters.jsonl" --seed "$s"
  done
done
rm -f "$out/dupstrip.out.jsonl"
python3 - "$out" "$seeds" <<'PY'
import json, os, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
print(f"precision and recall over seeds 1..{n} (mean, min, max):")
for tool in ["dupstrip", "rensa", "datasketch"]:
    rows = [json.load(open(os.path.join(out, f"seed{s}-{tool}.score.json"))) for s in range(1, n + 1)]
    line = f"{tool:<12}"
    for key in ["precision", "recall"]:
        v = [r[key] for r in rows]
        line += f" {key} {statistics.mean(v):.4f} ({min(v):.4f}..{max(v):.4f})"
    print(line)
PY
