#!/usr/bin/env bash
# Same behaviour, byte for byte: run two builds of dupstrip on the same generated
# corpora and compare everything they write (outputs, clusters, rejects, rules,
# reports with timings masked, state directories, stage outputs, --help texts).
#
#   bash scripts/identical.sh BASE_BIN [NEW_BIN] [DOCS]
#
# BASE_BIN is the build before a change (e.g. a `git worktree` of the previous commit
# built with `cargo build --release`), NEW_BIN defaults to target/release/dupstrip,
# DOCS (default 3000) sizes the corpora. Exits 1 listing every file that differs.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$(realpath "${1:?usage: identical.sh BASE_BIN [NEW_BIN] [DOCS]}")
NEW=$(realpath "${2:-target/release/dupstrip}")
DOCS=${3:-3000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# run_all BIN DIR: every job, run from DIR so that paths in reports are relative.
run_all() {
    local bin=$1 dir=$2
    mkdir -p "$dir"
    cd "$dir"
    # Corpora (the generators are compared too).
    "$bin" synth --docs "$DOCS" --seed 11 -o plain.jsonl --truth plain-truth.jsonl
    "$bin" synth --boilerplate --docs "$DOCS" --seed 12 -o news.jsonl --truth news-truth.jsonl
    "$bin" synth --layouts random --docs "$DOCS" --seed 13 -o random.jsonl --truth random-truth.jsonl
    head -c 20000 plain.jsonl > small.jsonl
    printf '{"id":"bad","text":' >> small.jsonl
    printf '\n{"id":"x1","text":"one two three four five six"}\n' >> small.jsonl

    local j
    for j in 1 2; do
        "$bin" dedup plain.jsonl -o "dedup-j$j.jsonl" --clusters "dedup-clusters-j$j.jsonl" \
            --report "dedup-report-j$j.json" -j "$j" -q
        "$bin" clean news.jsonl -o "clean-j$j.jsonl" --clusters "clean-clusters-j$j.jsonl" \
            --report "clean-report-j$j.json" --save-rules "clean-rules-j$j.json" -j "$j" -q
    done
    "$bin" dedup plain.jsonl -o dedup-exact.jsonl --verify exact --report dedup-exact.json -q
    "$bin" dedup plain.jsonl -o dedup-annotate.jsonl --mode annotate --keep longest -q
    "$bin" dedup plain.jsonl -o dedup-char.jsonl --shingle char --ngram 7 --scheme classic -q
    "$bin" dedup plain.jsonl -o dedup-mem.jsonl --mem-limit 256K --report dedup-mem.json -q
    "$bin" dedup plain.jsonl -o dedup-mem-exact.jsonl --mem-limit 256K --verify exact \
        --keep longest --clusters dedup-mem-exact-clusters.jsonl -j 1 -q
    "$bin" dedup small.jsonl -o dedup-small.jsonl --rejects rejects.jsonl --report small.json -q || true
    "$bin" clean random.jsonl -o clean-random.jsonl --clusters clean-random-clusters.jsonl \
        --report clean-random.json --save-rules clean-random-rules.json -q
    "$bin" clean random.jsonl -o clean-random-annotate.jsonl --mode annotate -q
    "$bin" clean news.jsonl -o clean-mem.jsonl --mem-limit 256K --save-rules clean-mem-rules.json \
        --clusters clean-mem-clusters.jsonl -q
    "$bin" boilerplate learn news.jsonl --save-rules learned.json -q
    "$bin" boilerplate strip random.jsonl --rules learned.json -o stripped.jsonl -q
    # Nightly runs against a state: three slices of one corpus.
    split -n l/3 -d --additional-suffix=.jsonl news.jsonl night-
    for n in 00 01 02; do
        "$bin" clean "night-$n.jsonl" --state state -o "night-$n-out.jsonl" \
            --report "night-$n-report.json" -q
    done
    for n in 00 01 02; do
        "$bin" clean "night-$n.jsonl" --state state-mem -o "night-$n-mem.jsonl" \
            --mem-limit 256K -q
    done
    rm -f state-mem/MANIFEST state-mem/MANIFEST.prev state-mem/LOCK
    "$bin" state stats state | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z/<time>/g' > state-stats.txt
    "$bin" state rules state -o state-rules.json
    "$bin" state compact state > /dev/null
    # Stage commands on record envelopes, as the Spark driver sends them.
    python3 - news.jsonl > envelopes.jsonl <<'EOF'
import sys
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in enumerate(f):
        line = line.rstrip("\n")
        if line.strip():
            print('{"row":%d,"at":"news.jsonl:%d","record":%s}' % (i, i + 1, line))
EOF
    "$bin" stage config -o job.json
    "$bin" stage sketch --config job.json --for stories < envelopes.jsonl > stage-stories.jsonl
    "$bin" stage sketch --config job.json --for dedup --rules learned.json \
        < envelopes.jsonl > stage-dedup.jsonl
    # Every --help text.
    local cmd
    for cmd in "" dedup clean "boilerplate learn" "boilerplate strip" "state stats" \
        "state compact" "state rules" "stage config" "stage sketch" "stage confirm" \
        "stage learn" "stage examples" "stage rules" "stage assign" "stage apply" \
        "stage decompress" synth; do
        # shellcheck disable=SC2086
        "$bin" $cmd --help > "help-${cmd// /-}.txt"
    done
    # Reports: timings, peak memory and the state's wall-clock times masked.
    python3 - <<'EOF'
import json, pathlib
VARYING = {"seconds", "timings", "started", "finished", "unix_time", "peak_rss", "elapsed",
           "memory"}
def mask(v):
    if isinstance(v, dict):
        return {
            k: ("<masked>" if k in VARYING or k.endswith("_seconds") else mask(x))
            for k, x in v.items()
        }
    if isinstance(v, list):
        return [mask(x) for x in v]
    return v
for p in pathlib.Path(".").rglob("*.json"):
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        continue
    p.write_text(json.dumps(mask(data), indent=1, sort_keys=True), encoding="utf-8")
EOF
    # The manifest records wall-clock times and ends in a checksum of them.
    rm -f state/MANIFEST state/MANIFEST.prev state/LOCK
    cd - > /dev/null
}

run_all "$BASE" "$WORK/base" > "$WORK/base.log" 2>&1 || { cat "$WORK/base.log"; exit 1; }
run_all "$NEW" "$WORK/new" > "$WORK/new.log" 2>&1 || { cat "$WORK/new.log"; exit 1; }

files=$(cd "$WORK/base" && find . -type f | sort)
new_files=$(cd "$WORK/new" && find . -type f | sort)
status=0
if [ "$files" != "$new_files" ]; then
    echo "different sets of files:"
    diff <(echo "$files") <(echo "$new_files") || true
    status=1
fi
count=0
for f in $files; do
    count=$((count + 1))
    if ! cmp -s "$WORK/base/$f" "$WORK/new/$f"; then
        echo "differs: $f"
        diff "$WORK/base/$f" "$WORK/new/$f" | head -10 || true
        status=1
    fi
done
if [ "$status" = 0 ]; then
    echo "identical: $count files ($(du -sh "$WORK/new" | cut -f1)) from $(basename "$BASE") and $(basename "$NEW")"
fi
exit "$status"
