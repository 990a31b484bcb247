#!/usr/bin/env bash
# This build against an earlier one, run in turn many times: on a machine whose speed
# drifts between runs (a shared VM), one run of each is not a ratio.
#
#   bash benches/pairs.sh BASE_BIN [MB] [PAIRS] [THREADS] [-- ARGS...]
#
# Runs `clean` (or, after `--`, the given command and options in place of `clean`)
# on the news corpus of benches/speed.sh (bench-out/news-MBmb.jsonl, generated when
# missing; MB defaults to 100) PAIRS times (default 5), this build then BASE_BIN, at
# THREADS threads (default: all cores), the input read once before each run so that
# neither reads it from disk. Prints each pair's wall seconds (one run
# each, measured by benches/measure.py), peak anonymous memory and ratio, then the
# median and the range of the ratios, and checks after every pair that both builds
# wrote the same bytes. CORPUS=path runs on that file instead (for `dedup`, the
# corpus of benches/speed.sh: bench-out/corpus-MBmb.jsonl). DIFFER=ok reports
# differing outputs instead of stopping (a base build from before a change of output).
# WRITE_DIR=dir writes both builds' outputs there instead of bench-out/pairs (e.g.
# /dev/shm, to take the disk's speed out of the ratio: the output is synced, and the
# sync waits for the disk).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,19p "$0"; exit 2; }
base=$(realpath "$1")
shift
mb=100
pairs=5
threads=$(nproc)
[ $# -gt 0 ] && [ "$1" != "--" ] && { mb=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { pairs=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { threads=$1; shift; }
args=(clean)
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
  shift
  args=("$@")
fi
cargo build --release --locked --quiet --bin dupstrip
bin=target/release/dupstrip
out=bench-out/pairs
dest="${WRITE_DIR:-$out}"
mkdir -p "$out" "$dest"
news="${CORPUS:-bench-out/news-${mb}mb.jsonl}"
[ -f "$news" ] || "$bin" synth --boilerplate --docs $((mb * 1000000 / 3750)) --seed 9 \
  -o "$news" --truth "bench-out/news-truth-${mb}mb.jsonl"
rm -f "$out/differ"
for p in $(seq "$pairs"); do
  for who in new base; do
    b=$bin
    [ "$who" = base ] && b=$base
    # The input read once first, so that neither build reads it from disk: this VM
    # drops idle file pages from its page cache on its own.
    cat "$news" > /dev/null
    python3 benches/measure.py -- "$b" "${args[@]}" "$news" -o "$dest/$who.jsonl" -q \
      -j "$threads" > "$out/$who-$p.time.json"
  done
  if ! cmp -s "$dest/new.jsonl" "$dest/base.jsonl"; then
    echo "pair $p: outputs differ" >&2
    [ "${DIFFER:-}" = ok ] || exit 1
    touch "$out/differ"
  fi
done
rm -f "$dest/new.jsonl" "$dest/base.jsonl"
python3 - "$out" "$pairs" "$mb" "$threads" "${args[*]}" <<'PY'
import json, os, statistics, sys
out, pairs, mb, threads, job = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
load = lambda p: json.load(open(os.path.join(out, p)))
print(f"{job} -j {threads}, {os.environ.get('CORPUS') or mb + ' MB news'}, {pairs} pairs "
      f"(this build, then the base build), output to {os.environ.get('WRITE_DIR') or out}")
print(f"{'pair':>4} {'new_s':>7} {'base_s':>7} {'new_anon':>8} {'base_anon':>9} {'base/new':>8}")
ratios = []
for p in range(1, pairs + 1):
    n, b = load(f"new-{p}.time.json"), load(f"base-{p}.time.json")
    ratios.append(b["wall_s"] / n["wall_s"])
    print(f"{p:>4} {n['wall_s']:>7.2f} {b['wall_s']:>7.2f} {n['peak_anon_mib']:>8.0f} "
          f"{b['peak_anon_mib']:>9.0f} {ratios[-1]:>8.2f}")
same = "outputs DIFFER" if os.path.exists(os.path.join(out, "differ")) else \
    "outputs identical in every pair"
print(f"median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x; {same}")
PY
