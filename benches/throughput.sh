#!/usr/bin/env bash
# End-to-end throughput and peak memory of `dupstrip dedup` on a generated corpus.
#
#   bash benches/throughput.sh [MB] [THREADS...]
#
# Generates a news-like JSONL corpus of about MB megabytes (default 100) with planted
# near-duplicates under bench-out/, runs `dupstrip dedup` once per thread count
# (default: 1 and all cores), and prints wall time, MB/s, docs/s, peak RSS, and pair
# precision/recall against exact-Jaccard ground truth. Peak RSS is the maximum
# resident set size reported by GNU time; pages of the memory-mapped input count in
# it (they are file-backed and reclaimable).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}
shift || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 "$(nproc)")
out=bench-out
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip --example score
bin=target/release/dupstrip
# About 2,600 bytes per generated document.
docs=$(( mb * 1000000 / 2600 ))
corpus="$out/corpus-${mb}mb.jsonl"
if [ ! -f "$corpus" ]; then
  "$bin" synth --docs "$docs" --seed 7 -o "$corpus" --truth "$out/truth-${mb}mb.jsonl"
fi
bytes=$(stat -c %s "$corpus")
printf '%-8s %-9s %-9s %-10s %-11s %-10s %-9s %-9s\n' threads wall_s cpu_s MB/s docs/s peak_MiB precision recall
for j in "${threads[@]}"; do
  /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" \
    "$bin" dedup "$corpus" -o "$out/out.jsonl" --clusters "$out/clusters.jsonl" \
    --report "$out/report-j$j.json" -j "$j" -q
  read -r wall user sys rss < "$out/time.txt"
  ndocs=$(python3 -c "import json;print(json.load(open('$out/report-j$j.json'))['documents']['read'])")
  score=$(target/release/examples/score "$corpus" "$out/truth-${mb}mb.jsonl" "$out/clusters.jsonl")
  p=$(python3 -c "import json,sys;print('%.4f' % json.loads(sys.argv[1])['precision'])" "$score")
  r=$(python3 -c "import json,sys;print('%.4f' % json.loads(sys.argv[1])['recall'])" "$score")
  python3 - "$j" "$wall" "$user" "$sys" "$rss" "$bytes" "$ndocs" "$p" "$r" <<'PY'
import sys
j, wall, user, sys_, rss, size, n, p, r = sys.argv[1:]
wall = float(wall); cpu = float(user) + float(sys_)
print(f"{j:<8} {wall:<9.2f} {cpu:<9.2f} {int(size)/1e6/wall:<10.1f} {int(n)/wall:<11.0f} {int(rss)/1024:<10.0f} {p:<9} {r:<9}")
PY
done
echo "stage timings (s) of the last run:"
python3 -c "import json;print(json.load(open('$out/report-j${threads[-1]}.json'))['timings'])"
