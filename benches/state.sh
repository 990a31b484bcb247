#!/usr/bin/env bash
# The cost of a nightly run with --state: a day's input against a history ten times
# its size, compared with deduplicating the day alone.
#
#   bash benches/state.sh [DAY_MB] [REPEATS]
#
# Generates a news corpus of 12 days of about DAY_MB megabytes each (default 20) with
# `dupstrip synth --boilerplate`, dealt out line by line so copies of one story fall
# on different days. Days 0-9 are run one by one into a state (the history: ten
# runs, so the state has the segments tiered merging leaves). Then, REPEATS times
# (default 3) each, on a fresh copy of that state:
#   alone   clean day 10 without a state
#   state   clean day 10 --state (a night without merging)
#   merge   clean day 11 --state after day 10 (the night the newest four one-run
#           segments are merged)
# and the same for dedup. Prints median wall seconds, peak RSS (GNU time's maxrss,
# mapped pages included) and the ratio state/alone; the issue's target is <= 1.5.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-20}
reps=${2:-3}
out=bench-out/state
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip
bin=target/release/dupstrip
days=12
# About 3,750 bytes per generated page.
docs=$(( mb * days * 1000000 / 3750 ))
corpus="$out/news-${mb}x${days}.jsonl"
if [ ! -f "$out/day11-${mb}.jsonl" ]; then
  "$bin" synth --boilerplate --docs "$docs" --seed 12 -o "$corpus" --truth "$out/truth.jsonl"
  for d in $(seq 0 $((days - 1))); do
    awk -v d="$d" -v n="$days" '(NR - 1) % n == d' "$corpus" > "$out/day$d-${mb}.jsonl"
  done
  rm -f "$corpus"
fi
day_bytes=$(stat -c %s "$out/day10-${mb}.jsonl")

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

# run NAME CMD... : REPEATS timed runs; prints "median_wall max_rss_MiB"
timed() {
  local walls=() rss=0
  for _ in $(seq "$reps"); do
    [ -n "${PREP:-}" ] && eval "$PREP"
    /usr/bin/time -f '%e %M' -o "$out/time.txt" "$@"
    read -r w m < "$out/time.txt"
    walls+=("$w")
    [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%s %s\n' "$(printf '%s\n' "${walls[@]}" | median)" "$((rss / 1024))"
}

for cmd in clean dedup; do
  hist="$out/history-$cmd-${mb}"
  if [ ! -f "$hist/MANIFEST" ]; then
    rm -rf "$hist"
    for d in $(seq 0 9); do
      "$bin" "$cmd" "$out/day$d-${mb}.jsonl" -o "$out/night.jsonl" --state "$hist" -q
    done
  fi
  hist_docs=$("$bin" state stats "$hist" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["documents"], len(s["segments"]), s["bytes"])')
  read -r a_wall a_rss < <(PREP="" timed "$bin" "$cmd" "$out/day10-${mb}.jsonl" -o "$out/night.jsonl" -q)
  read -r s_wall s_rss < <(PREP="rm -rf $out/s && cp -r $hist $out/s" timed \
    "$bin" "$cmd" "$out/day10-${mb}.jsonl" -o "$out/night.jsonl" --state "$out/s" -q \
    --report "$out/night-$cmd.json")
  # The merge night: day 10 is in the state, day 11 fills the lowest tier.
  rm -rf "$out/m10" && cp -r "$hist" "$out/m10"
  "$bin" "$cmd" "$out/day10-${mb}.jsonl" -o "$out/night.jsonl" --state "$out/m10" -q
  read -r m_wall m_rss < <(PREP="rm -rf $out/s && cp -r $out/m10 $out/s" timed \
    "$bin" "$cmd" "$out/day11-${mb}.jsonl" -o "$out/night.jsonl" --state "$out/s" -q \
    --report "$out/merge-$cmd.json")
  read -r docs segs bytes <<< "$hist_docs"
  python3 - "$cmd" "$day_bytes" "$docs" "$segs" "$bytes" "$a_wall" "$a_rss" "$s_wall" "$s_rss" "$m_wall" "$m_rss" "$out/night-$cmd.json" "$out/merge-$cmd.json" <<'PY'
import json, sys
cmd, day, docs, segs, sbytes, aw, ar, sw, sr, mw, mr, night, merge = sys.argv[1:]
day = int(day); aw, sw, mw = float(aw), float(sw), float(mw)
n = json.load(open(night)); m = json.load(open(merge))
st = n["state"]
print(f"== {cmd}: day {day/1e6:.1f} MB ({n['documents']['read']} documents); history {docs} documents "
      f"in {segs} segments ({int(sbytes)/1e6:.1f} MB of state) from 10 runs")
print(f"{'run':<8} {'wall_s':>8} {'MB/s':>8} {'peak_MiB':>9} {'ratio':>7}")
for name, w, r in [("alone", aw, ar), ("state", sw, sr), ("merge", mw, mr)]:
    print(f"{name:<8} {w:>8.2f} {day/1e6/w:>8.1f} {int(r):>9} {w/aw:>7.2f}")
print(f"state night: {st['duplicates_of_state']} copies of the history found, {st['added']} added; "
      f"lookup {st['lookup_seconds']} s, commit {st['commit_seconds']} s; "
      f"merge night merged {m['state']['segments_merged']} segments, commit {m['state']['commit_seconds']} s")
PY
done
