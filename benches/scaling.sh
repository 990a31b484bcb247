#!/usr/bin/env bash
# Parallel scaling of `dupstrip dedup` end to end: one generated corpus, one run
# per thread count, default settings and the matched settings of compare.sh.
#
#   bash benches/scaling.sh [MB] [THREADS...]   (default: 1000 MB; 1 2 4 8 16 up to nproc)
#
# Set DUPSTRIP=path/to/dupstrip to use a binary built elsewhere (no cargo needed).
# Prints threads, wall seconds, MB/s, speedup over -j 1, and dupstrip's own stage
# timings from --report.
set -euo pipefail
# A relative DUPSTRIP path is taken from where the script was started.
[ -z "${DUPSTRIP:-}" ] || DUPSTRIP=$(realpath "$DUPSTRIP")
cd "$(dirname "$0")/.."
mb=${1:-1000}
shift || true
threads=("$@")
if [ ${#threads[@]} -eq 0 ]; then
  threads=(1)
  for j in 2 4 8 16; do [ "$j" -le "$(nproc)" ] && threads+=("$j"); done
fi
bin=${DUPSTRIP:-target/release/dupstrip}
if [ -z "${DUPSTRIP:-}" ]; then
  cargo build --release --locked --quiet --bin dupstrip
fi
out=${BENCH_OUT:-bench-out}
mkdir -p "$out"
corpus="$out/corpus-${mb}mb.jsonl"
if [ ! -f "$corpus" ]; then
  "$bin" synth --docs $(( mb * 1000000 / 2600 )) --seed 7 -o "$corpus" --truth "$out/truth-${mb}mb.jsonl"
fi
bytes=$(stat -c %s "$corpus")
echo "corpus: $corpus, $bytes bytes; $(nproc) cores"
for setting in default matched; do
  args=()
  [ "$setting" = matched ] && args=(--shingle whitespace --no-normalize all --verify estimate --bands 16 --rows 8)
  echo "== $setting ${args[*]}"
  printf '%-8s %-8s %-8s %-8s %s\n' threads wall_s MB/s speedup "stage timings (s)"
  base=""
  for j in "${threads[@]}"; do
    rm -f "$out/scaling.out.jsonl"
    start=$(date +%s.%N)
    "$bin" dedup "$corpus" -o "$out/scaling.out.jsonl" -q -j "$j" "${args[@]}" \
      --report "$out/scaling-report.json"
    end=$(date +%s.%N)
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    [ -n "$base" ] || base=$wall
    timings=$(tr -d ' \n' < "$out/scaling-report.json" | grep -o '"timings":{[^}]*}' | sed 's/"timings"://' || true)
    printf '%-8s %-8.2f %-8.1f %-8.2f %s\n' "$j" "$wall" \
      "$(awk -v n="$bytes" -v w="$wall" 'BEGIN { print n / 1e6 / w }')" \
      "$(awk -v a="$base" -v w="$wall" 'BEGIN { print a / w }')" "$timings"
  done
done
rm -f "$out/scaling.out.jsonl"
