#!/usr/bin/env bash
# Where users wait: `clean` and `dedup` of this build against an earlier build, the
# floor and the peers, in one run.
#
#   bash benches/speed.sh [MB] [BASE_BIN] [--no-peers]
#
# MB (default 100; 1000 for the 1 GB run) sizes two generated corpora under
# bench-out/: a news corpus with outlet boilerplate for `clean` (`synth
# --boilerplate --seed 9`, as benches/clean.sh) and a corpus with planted copies for
# `dedup` (`synth --seed 7`, as benches/compare.sh). BASE_BIN is the build to compare
# with (for issue 14: commit 8e8e559 built with `cargo build --release`); without it
# only this build runs. Each job runs at -j 1 and -j 2 (all cores of this machine),
# this build and the base one after each other, then the floor (one thread, split on
# whitespace + xxh3 of every token: what any signature costs at least) and, unless
# --no-peers, rensa and datasketch (pinned in benches/requirements.txt, installed into
# bench-out/venv) at the matched settings of benches/compare.sh.
#
# Prints one table: wall and CPU seconds, MB/s, docs/s, peak RSS and peak anonymous
# RSS (benches/measure.py), the base build's wall time over this one's, and whether
# the two builds wrote byte-identical output and clusters (the files are then removed).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=100
base=""
peers=1
for a in "$@"; do
  case "$a" in
    --no-peers) peers=0 ;;
    [0-9]*) mb=$a ;;
    *) base=$(realpath "$a") ;;
  esac
done
out=bench-out/speed
venv=bench-out/venv
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip --example floor
bin=target/release/dupstrip
cores=$(nproc)

news="bench-out/news-${mb}mb.jsonl"
[ -f "$news" ] || "$bin" synth --boilerplate --docs $((mb * 1000000 / 3750)) --seed 9 \
  -o "$news" --truth "bench-out/news-truth-${mb}mb.jsonl"
plain="bench-out/corpus-${mb}mb.jsonl"
[ -f "$plain" ] || "$bin" synth --docs $((mb * 1000000 / 2600)) --seed 7 \
  -o "$plain" --truth "bench-out/truth-${mb}mb.jsonl"

matched=(--shingle whitespace --no-normalize all --verify estimate --bands 16 --rows 8)
# job name, corpus, arguments after the corpus
jobs=(
  "clean|$news|clean"
  "dedup|$plain|dedup"
  "dedup-matched|$plain|dedup ${matched[*]}"
)
rows=()
for job in "${jobs[@]}"; do
  IFS='|' read -r name corpus args <<< "$job"
  for j in 1 "$cores"; do
    for who in new base; do
      b=$bin
      if [ "$who" = base ]; then
        [ -n "$base" ] || continue
        b=$base
      fi
      tag="$name-j$j-$who"
      echo "== $tag" >&2
      # shellcheck disable=SC2086
      # Read once first, so that no run reads its input from disk (this VM drops
      # idle file pages from its page cache on its own).
      cat "$corpus" > /dev/null
      python3 benches/measure.py -- "$b" $args "$corpus" -o "$out/$tag.jsonl" -q -j "$j" \
        --clusters "$out/$tag.clusters.jsonl" > "$out/$tag.time.json"
      rows+=("$tag|$corpus")
    done
    # Compare the two builds' files, then remove them (at 1 GB each run writes one).
    new="$out/$name-j$j-new"
    if [ -n "$base" ]; then
      old="$out/$name-j$j-base"
      if cmp -s "$new.jsonl" "$old.jsonl" && cmp -s "$new.clusters.jsonl" "$old.clusters.jsonl"; then
        echo yes > "$new.same"
      else
        echo NO > "$new.same"
      fi
      rm -f "$old.jsonl" "$old.clusters.jsonl"
    fi
    rm -f "$new.jsonl" "$new.clusters.jsonl"
  done
done
echo "== floor" >&2
target/release/examples/floor "$plain" > "$out/floor.json"
if [ "$peers" = 1 ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements.txt
  for tool in rensa datasketch; do
    echo "== $tool" >&2
    python3 benches/measure.py -- "$venv/bin/python" benches/peers.py "$tool" "$plain" \
      "$out/$tool.clusters.jsonl" > "$out/$tool-j1-new.time.json"
    rows+=("$tool-j1-new|$plain")
  done
fi

python3 - "$out" "$cores" "${rows[@]}" <<'PY'
import json, os, sys
out, cores, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
load = lambda p: json.load(open(os.path.join(out, p)))
docs = {}
def count(corpus):
    if corpus not in docs:
        docs[corpus] = sum(1 for _ in open(corpus, "rb"))
    return docs[corpus]
floor = load("floor.json")
print(f"floor (1 thread, whitespace split + xxh3 of every token): {floor['mb_per_s']:.0f} MB/s")
print(f"{'run':<26} {'wall_s':>7} {'cpu_s':>7} {'MB/s':>7} {'docs/s':>8} {'rss_MiB':>8} "
      f"{'anon_MiB':>8} {'base/new':>8} {'same_output':>11}")
times = {}
for row in rows:
    tag, corpus = row.split("|")
    times[tag] = load(f"{tag}.time.json")
for row in rows:
    tag, corpus = row.split("|")
    t = times[tag]
    size = os.path.getsize(corpus) / 1e6
    w = t["wall_s"]
    ratio, same = "", ""
    if tag.endswith("-new") and tag[:-4] + "-base" in times:
        ratio = f"{times[tag[:-4] + '-base']['wall_s'] / w:.2f}"
        same = open(os.path.join(out, tag + ".same")).read().strip()
    print(f"{tag:<26} {w:>7.2f} {t['cpu_s']:>7.2f} {size / w:>7.1f} {count(corpus) / w:>8.0f} "
          f"{t['peak_rss_mib']:>8.0f} {t['peak_anon_mib']:>8.0f} {ratio:>8} {same:>11}")
for peer in ("rensa", "datasketch"):
    key = f"{peer}-j1-new"
    if key in times:
        for j in ("1", cores):
            mine = times.get(f"dedup-matched-j{j}-new")
            if mine:
                print(f"{peer} / dupstrip dedup (matched, -j {j}): "
                      f"{times[key]['wall_s'] / mine['wall_s']:.1f}x")
PY
