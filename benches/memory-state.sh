#!/usr/bin/env bash
# Peak memory of nightly runs against a state: night 1 creates the state from a
# generated news corpus, night 2 crawls the same pages again (all but the last, so
# that it is not taken for a repeat of night 1, which would replace it), so that
# every page of night 2 is a copy of a document the state kept (the worst case for
# the state lookups). Both nights run with default options and with `--mem-limit LIMIT`, each
# with its own state; night 2's outputs and clusters are compared by digest.
#
#   bash benches/memory-state.sh [MB] [LIMIT] [THREADS]
#
# MB defaults to 1000 (bench-out/news-1000mb.jsonl, from benches/news-corpus.sh),
# LIMIT to 64M, THREADS to 2. Prints one table row per run.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-1000}
limit=${2:-64M}
threads=${3:-2}
cargo build --release --locked --quiet --bin dupstrip
bin=$(realpath target/release/dupstrip)
out=bench-out/memory
tmp=bench-out/tmp
mkdir -p "$out" "$tmp"
corpus=$(bash benches/news-corpus.sh "$mb" "$bin")

night2=$tmp/night2-${mb}mb.jsonl
head -n -1 "$corpus" > "$night2"
trap 'rm -f "$night2"' EXIT

printf '| night | corpus | --mem-limit | wall s | peak anon MiB (sampled) | copies of the state | spilled | same output |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for lim in none "$limit"; do
  state="$out/state-$mb-$lim"
  rm -rf "$state"
  for night in 1 2; do
    name="$out/night$night-$mb-$lim"
    input=$corpus
    [ "$night" = 1 ] || input=$night2
    args=(clean "$input" --state "$state" -o "$name.jsonl" --clusters "$name.clusters.jsonl"
      --report "$name.json" -j "$threads" -q --tmp-dir "$tmp")
    [ "$lim" = none ] || args+=(--mem-limit "$lim")
    m=$(python3 benches/measure.py -- "$bin" "${args[@]}")
    sha256sum < "$name.jsonl" > "$name.sha256"
    sha256sum < "$name.clusters.jsonl" >> "$name.sha256"
    rm -f "$name.jsonl" "$name.clusters.jsonl"
    same=-
    if [ "$lim" != none ]; then
      if cmp -s "$out/night$night-$mb-none.sha256" "$name.sha256"; then same=yes; else same=NO; fi
    fi
    python3 - "$m" "$name.json" "$night" "$mb" "$lim" "$same" <<'EOF'
import json, sys
m = json.loads(sys.argv[1])
r = json.load(open(sys.argv[2]))
night, mb, lim, same = sys.argv[3:7]
spilled = ", ".join(r["memory"]["spilled"]) or "-"
print(f"| {night} | {mb} MB | {lim} | {m['wall_s']:.1f} | {m['peak_anon_mib']:.1f} | "
      f"{r['state']['duplicates_of_state']} | {spilled} | {same} |")
EOF
  done
done
