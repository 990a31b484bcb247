#!/usr/bin/env bash
# The cost of Parquet in and out, against JSON Lines, for `dupstrip clean`.
#
#   bash benches/parquet.sh [MB]
#
# Generates a news corpus of about MB megabytes (default 100) with
# `dupstrip synth --boilerplate`, writes it as Parquet with `dupstrip dedup --mode
# annotate -o corpus.parquet` (all rows, plus a `dupstrip` column), then times
# `clean` from JSON Lines to JSON Lines, from Parquet to Parquet, and from Parquet to
# JSON Lines. Prints wall seconds, MB/s of text (the same text in every case) and
# peak RSS (GNU time's maxrss).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}
out=bench-out/parquet
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip
bin=target/release/dupstrip
docs=$(( mb * 1000000 / 3750 ))
jsonl="$out/news-${mb}mb.jsonl"
[ -f "$jsonl" ] || "$bin" synth --boilerplate --docs "$docs" --seed 9 -o "$jsonl" --truth "$out/truth.jsonl"
/usr/bin/time -f '%e %M' -o "$out/time.txt" \
  "$bin" dedup "$jsonl" -o "$out/news.parquet" --mode annotate -q
read -r conv_wall conv_rss < "$out/time.txt"
text_mb=$(python3 -c "import json,sys; print(sum(len(json.loads(l)['text'].encode()) for l in open(sys.argv[1]))/1e6)" "$jsonl")
printf 'corpus: %s (%.1f MB of text), as Parquet %.1f MB; writing it as Parquet (dedup --mode annotate) took %s s, %s MiB\n' \
  "$jsonl" "$text_mb" "$(stat -c %s "$out/news.parquet" | awk '{print $1/1e6}')" "$conv_wall" "$((conv_rss / 1024))"
printf '%-22s %8s %8s %9s\n' run wall_s MB/s peak_MiB
run() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$out/time.txt" "$bin" clean "$@" -q
  read -r w m < "$out/time.txt"
  python3 -c "import sys; n,w,m,t=sys.argv[1:]; print(f'{n:<22} {float(w):>8.2f} {float(t)/float(w):>8.1f} {int(m)//1024:>9}')" "$name" "$w" "$m" "$text_mb"
}
run "jsonl -> jsonl" "$jsonl" -o "$out/clean.jsonl"
run "parquet -> parquet" "$out/news.parquet" -o "$out/clean.parquet"
run "parquet -> jsonl" "$out/news.parquet" -o "$out/clean-from-parquet.jsonl"
