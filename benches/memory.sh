#!/usr/bin/env bash
# Peak memory as the corpus grows: `dedup` and `clean` with default options and with
# `--mem-limit LIMIT`, on generated news corpora of the given sizes.
#
#   bash benches/memory.sh [SIZES_MB] [LIMIT] [THREADS]
#
# SIZES_MB defaults to "300 1000 5000", LIMIT to 64M, THREADS to 2. Corpora come
# from benches/news-corpus.sh (`dupstrip synth --boilerplate --seed 9`, about 3,750
# bytes a page, generated once); temporary files go to bench-out/tmp (on disk).
# Peak anonymous memory (RssAnon: heap and stacks, not the memory-mapped input or
# temporary files) is sampled every 5 ms by benches/measure.py, and read back from
# the report's `memory` section. Every limited run's output is compared byte for byte
# with the run without a limit (by digest; with LIMITED_ONLY=1 only the limited runs
# run, compared with digests an earlier run left). Prints one table row per run.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-300 1000 5000}
limit=${2:-64M}
threads=${3:-2}
cargo build --release --locked --quiet --bin dupstrip
bin=$(realpath target/release/dupstrip)
out=bench-out/memory
tmp=bench-out/tmp
mkdir -p "$out" "$tmp"

printf '| command | corpus | --mem-limit | wall s | peak anon MiB (sampled) | peak anon MiB (report) | spilled | same output |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for mb in $sizes; do
  corpus=$(bash benches/news-corpus.sh "$mb" "$bin")
  for cmd in dedup clean; do
    for lim in none "$limit"; do
      args=("$cmd" "$corpus" -o "$out/$cmd-$mb-$lim.jsonl" --clusters "$out/$cmd-$mb-$lim.clusters.jsonl"
        --report "$out/$cmd-$mb-$lim.json" -j "$threads" -q --tmp-dir "$tmp")
      [ "$lim" = none ] || args+=(--mem-limit "$lim")
      if [ "$lim" = none ] && [ -n "${LIMITED_ONLY:-}" ]; then
        continue
      fi
      m=$(python3 benches/measure.py -- "$bin" "${args[@]}")
      # Outputs are compared by digest and deleted at once (clusters files at the
      # end of each size), so that a 5 GB corpus needs room for one output at a time.
      sha256sum < "$out/$cmd-$mb-$lim.jsonl" > "$out/$cmd-$mb-$lim.sha256"
      sha256sum < "$out/$cmd-$mb-$lim.clusters.jsonl" >> "$out/$cmd-$mb-$lim.sha256"
      rm -f "$out/$cmd-$mb-$lim.jsonl"
      same=-
      if [ "$lim" != none ] && [ -f "$out/$cmd-$mb-none.sha256" ]; then
        if cmp -s "$out/$cmd-$mb-none.sha256" "$out/$cmd-$mb-$lim.sha256"; then
          same=yes
        else
          same=NO
        fi
      fi
      python3 - "$m" "$out/$cmd-$mb-$lim.json" "$cmd" "$mb" "$lim" "$same" <<'EOF'
import json, sys
m = json.loads(sys.argv[1])
r = json.load(open(sys.argv[2]))["memory"]
cmd, mb, lim, same = sys.argv[3:7]
print(f"| {cmd} | {mb} MB | {lim} | {m['wall_s']:.1f} | {m['peak_anon_mib']:.1f} | "
      f"{r['peak_anon_bytes'] / 2**20:.1f} | {', '.join(r['spilled']) or '-'} | {same} |")
EOF
    done
    rm -f "$out/$cmd-$mb-"*.jsonl
  done
done
