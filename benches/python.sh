#!/usr/bin/env bash
# The Python package's find_duplicates against rensa, on texts already in memory:
#
#   bash benches/python.sh [MB] [THREADS]      (default 100 MB, all cores)
#
# Installs the package from this checkout (release build, `pip install ./python`),
# rensa and pyarrow into bench-out/pyvenv. The corpus is `dupstrip synth --seed 7`
# (news-like, planted near-duplicates, ~2,600 bytes per document), as for
# benches/compare.sh. Each tool runs in its own process (benches/
# python_find_duplicates.py: texts loaded into a list first, then the clock), and its
# clusters are scored against the planted truth by examples/score.rs: pair precision
# and recall at exact Jaccard 0.8, on str.split() 5-grams for the matched runs and on
# dupstrip's default shingles for the default ones. Prints seconds, MB/s of text,
# resident memory with the texts loaded and its peak during the call, and the speed
# ratio to rensa.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}
threads=${2:-$(nproc)}
out=bench-out/python
venv=bench-out/pyvenv
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip --example score
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check rensa==0.5.0 pyarrow==26.0.1 ./python

docs=$(( mb * 1000000 / 2600 ))
corpus="bench-out/corpus-${mb}mb.jsonl"
truth="bench-out/truth-${mb}mb.jsonl"
[ -f "$corpus" ] || target/release/dupstrip synth --docs "$docs" --seed 7 -o "$corpus" --truth "$truth"

for tool in rensa dupstrip-matched dupstrip dupstrip-arrow; do
  echo "== $tool" >&2
  "$venv/bin/python" benches/python_find_duplicates.py "$tool" "$corpus" "$out/$tool.clusters.jsonl" \
    --threads "$threads" > "$out/$tool.time.json"
  flag=""
  case "$tool" in rensa|dupstrip-matched) flag=--whitespace ;; esac
  target/release/examples/score "$corpus" "$truth" "$out/$tool.clusters.jsonl" 0.8 $flag \
    > "$out/$tool.score.json"
done
python3 - "$out" "$threads" <<'PY'
import json, os, sys
out, threads = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(os.path.join(out, n)))
rensa = load("rensa.time.json")["seconds"]
print(f"find_duplicates on texts in memory, {threads} threads for dupstrip (rensa is single-threaded)")
print(f"{'tool':18} {'seconds':>8} {'MB/s':>7} {'docs/s':>9} {'RSS texts':>9} {'peak':>8} {'precision':>9} {'recall':>7} {'vs rensa':>8}")
for tool in ["rensa", "dupstrip-matched", "dupstrip", "dupstrip-arrow"]:
    t, s = load(f"{tool}.time.json"), load(f"{tool}.score.json")
    print(f"{tool:18} {t['seconds']:8.2f} {t['text_bytes']/1e6/t['seconds']:7.1f} {t['documents']/t['seconds']:9.0f} "
          f"{t['texts_rss']/2**20:5.0f} MiB {t['peak_rss']/2**20:4.0f} MiB {s['precision']:9.4f} {s['recall']:7.4f} {rensa/t['seconds']:7.1f}x")
PY
