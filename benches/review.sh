#!/usr/bin/env bash
# What `--html` costs: time, peak memory and page size, for `clean` and `dedup`.
#
#   bash benches/review.sh [MB] [THREADS] [ROUNDS]
#
# Generates about MB megabytes (default 100) of news pages with outlet boilerplate
# (`dupstrip synth --boilerplate`, the corpus of benches/clean.sh) under bench-out/,
# then runs each command ROUNDS times (default 3) with and without `--html`, the two
# alternating so that the machine's drift falls on both. Prints the median wall time
# of each, the difference, the report's `timings.html`, peak RSS (GNU time) and the
# page's size, and checks that the output is the same with and without the page.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}
j=${2:-$(nproc)}
rounds=${3:-3}
out=bench-out
mkdir -p "$out/review"
cargo build --release --locked --quiet --bin dupstrip
bin=target/release/dupstrip
docs=$(( mb * 1000000 / 3750 ))
corpus="$out/news-${mb}mb.jsonl"
truth="$out/news-truth-${mb}mb.jsonl"
[ -f "$corpus" ] || "$bin" synth --boilerplate --docs "$docs" --seed 9 -o "$corpus" --truth "$truth"
r="$out/review"
printf '%-7s %-6s %-10s %-10s %-8s %-8s %-10s %-10s %-9s\n' command MB plain_s html_s added_s html_s* plain_MiB html_MiB page_KB
for cmd in clean dedup; do
  : > "$r/plain.txt"; : > "$r/html.txt"
  for _ in $(seq "$rounds"); do
    /usr/bin/time -f '%e %M' -a -o "$r/plain.txt" \
      "$bin" "$cmd" "$corpus" -o "$r/plain.jsonl" --report "$r/plain.json" -j "$j" -q
    /usr/bin/time -f '%e %M' -a -o "$r/html.txt" \
      "$bin" "$cmd" "$corpus" -o "$r/html.jsonl" --report "$r/html.json" --html "$r/page.html" -j "$j" -q
  done
  cmp -s "$r/plain.jsonl" "$r/html.jsonl" || { echo "$cmd: output differs with --html" >&2; exit 1; }
  python3 - "$cmd" "$mb" "$r/plain.txt" "$r/html.txt" "$r/html.json" "$r/page.html" <<'PY'
import json, os, statistics, sys
cmd, mb, plain, html, report, page = sys.argv[1:]
def runs(path):
    rows = [l.split() for l in open(path) if l.strip() and l[0].isdigit()]
    return statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows) / 1024
p, pm = runs(plain)
h, hm = runs(html)
t = json.load(open(report))["timings"]["html"]
print(f"{cmd:<7} {mb:<6} {p:<10.2f} {h:<10.2f} {h - p:<8.2f} {t:<8.3f} {pm:<10.0f} {hm:<10.0f} {os.path.getsize(page) / 1000:<9.0f}")
PY
done
echo "html_s*: the report's timings.html (reading the documents shown, and writing the page)"
rm -f "$r/plain.jsonl" "$r/html.jsonl"
