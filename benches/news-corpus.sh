#!/usr/bin/env bash
# The generated news corpus of about MB megabytes that the memory benchmarks share:
# `dupstrip synth --boilerplate --seed 9`, about 3,750 bytes a page, written to
# bench-out/news-MBmb.jsonl (with its truth file) unless already there. Prints its
# path.
#
#   bash benches/news-corpus.sh MB BIN
set -euo pipefail
cd "$(dirname "$0")/.."
mb=$1
bin=$2
corpus=bench-out/news-${mb}mb.jsonl
if [ ! -f "$corpus" ]; then
  "$bin" synth --boilerplate --docs $((mb * 1000000 / 3750)) --seed 9 -o "$corpus" \
    --truth "bench-out/news-truth-${mb}mb.jsonl" >&2
fi
echo "$corpus"
