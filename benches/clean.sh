#!/usr/bin/env bash
# End-to-end throughput, peak memory and quality of `dupstrip clean` on a generated
# news corpus with outlet boilerplate.
#
#   bash benches/clean.sh [MB] [THREADS...]
#
# Generates about MB megabytes (default 100) with `dupstrip synth --boilerplate` under
# bench-out/, runs `dupstrip clean --mode annotate` once per thread count (default: 1
# and all cores), and prints wall and CPU time, MB/s, docs/s, peak RSS (GNU time's
# maxrss, mapped input pages included), boilerplate line precision/recall and
# near-duplicate pair F1 against the planted truth.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}
shift || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 "$(nproc)")
out=bench-out
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip --example score_clean
bin=target/release/dupstrip
# About 3,750 bytes per generated page.
docs=$(( mb * 1000000 / 3750 ))
corpus="$out/news-${mb}mb.jsonl"
truth="$out/news-truth-${mb}mb.jsonl"
[ -f "$corpus" ] || "$bin" synth --boilerplate --docs "$docs" --seed 9 -o "$corpus" --truth "$truth"
bytes=$(stat -c %s "$corpus")
printf '%-8s %-9s %-9s %-8s %-9s %-9s %-10s %-10s %-8s\n' threads wall_s cpu_s MB/s docs/s peak_MiB line_prec line_rec pair_f1
for j in "${threads[@]}"; do
  /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" \
    "$bin" clean "$corpus" -o "$out/clean-annotated.jsonl" --mode annotate \
    --report "$out/clean-report-j$j.json" -j "$j" -q
  read -r wall user sys rss < "$out/time.txt"
  target/release/examples/score_clean "$truth" "$out/clean-annotated.jsonl" > "$out/clean-score.json"
  python3 - "$j" "$wall" "$user" "$sys" "$rss" "$bytes" "$out/clean-report-j$j.json" "$out/clean-score.json" <<'PY'
import json, sys
j, wall, user, sys_, rss, size, report, score = sys.argv[1:]
wall = float(wall); cpu = float(user) + float(sys_)
n = json.load(open(report))["documents"]["read"]
s = json.load(open(score))
print(f"{j:<8} {wall:<9.2f} {cpu:<9.2f} {int(size)/1e6/wall:<8.1f} {n/wall:<9.0f} {int(rss)/1024:<9.0f} "
      f"{s['boilerplate_line_precision']:<10.4f} {s['boilerplate_line_recall']:<10.4f} {s['pair_f1']:<8.4f}")
PY
done
echo "stage timings (s) of the last run:"
python3 -c "import json;print(json.load(open('$out/clean-report-j${threads[-1]}.json'))['timings'])"
