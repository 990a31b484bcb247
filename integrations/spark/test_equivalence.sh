#!/usr/bin/env bash
# The Spark driver must do exactly what `dupstrip clean` does: on a generated corpus
# of a few thousand pages split over several files (plain, gzip and zstd JSON Lines),
# run both and require the same output bytes (same documents dropped, same lines
# stripped), the same rules file and the same clusters.
#
# Installs pyspark into a virtual environment (SPARK_VENV, default target/spark-venv)
# on first use; needs Java 17 and python3. Run by .ci/run after the Rust tests.
#
#   bash integrations/spark/test_equivalence.sh [DOCS]
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCS=${1:-3000}
PYSPARK_VERSION=4.3.0
VENV=${SPARK_VENV:-target/spark-venv}

cargo build --locked --quiet --bin dupstrip
BIN=$PWD/target/debug/dupstrip

if [ ! -x "$VENV/bin/spark-submit" ] || ! "$VENV/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')"; then
    echo "== installing pyspark $PYSPARK_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
fi
VENV=$(realpath "$VENV")
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON=$VENV/bin/python
export PYSPARK_DRIVER_PYTHON=$VENV/bin/python

work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
mkdir "$work/in" "$work/in/more"
"$BIN" synth --docs "$DOCS" --boilerplate --seed 11 -o "$work/all.jsonl" --truth "$work/truth.jsonl" 2>/dev/null
# Four files (clean reads a directory in name order: 0-c.jsonl.zst, a.jsonl, b.jsonl.gz,
# more/d.jsonl):
#   a.jsonl       plain, starting with a byte order mark; every ninth record followed
#                 by spaces (kept in the output), blank and whitespace-only lines
#                 between records (left out, but counted in line numbers), and
#                 records without an id, carriage returns inside records and before
#                 line ends; read in splits of 200 KB, so that records are numbered
#                 (and named FILE:LINE) across splits
#   b.jsonl.gz    gzip
#   0-c.jsonl.zst zstd (decompressed by the binary), starting with a UTF-8 byte order
#                 mark; read first, before the files Spark reads as text
#   more/d.jsonl  gzip under a plain name (told by its magic bytes), with blank lines
#                 and records without an id (named FILE:LINE)
total=$(wc -l < "$work/all.jsonl")
q=$(( (total + 3) / 4 ))
split -l "$q" -d -a 1 "$work/all.jsonl" "$work/part-"
{ printf '\xef\xbb\xbf'; awk 'NR % 40 == 0 { print "" } NR % 61 == 0 { print " \t\f " }
    NR % 13 == 0 { sub(/"id":"[^"]*",/, "") } NR % 47 == 0 { sub(/,/, " \r ,") }
    NR % 53 == 0 { print $0 "\r\r"; next }
    NR % 9 == 0 { print $0 "   "; next } { print }' "$work/part-0"; } > "$work/in/a.jsonl"
gzip -c "$work/part-1" > "$work/in/b.jsonl.gz"
{ printf '\xef\xbb\xbf'; cat "$work/part-2"; } | zstd -q -c > "$work/in/0-c.jsonl.zst"
awk 'NR % 50 == 0 { print "" } NR % 7 == 0 { sub(/"id":"[^"]*",/, "") } { print }' "$work/part-3" \
    | gzip -c > "$work/in/more/d.jsonl"
options=(--min-docs 4)
# Records must never pass through a Python worker: a job that starts one fails,
# since its daemon module does not exist.
no_python_workers=(--conf spark.python.use.daemon=true
                   --conf spark.python.daemon.module=dupstrip_no_python_workers)

echo "== dupstrip clean"
"$BIN" clean "$work/in" -o "$work/clean.jsonl" --clusters "$work/clean-clusters.jsonl" \
    --save-rules "$work/clean-rules.json" -q "${options[@]}"

echo "== spark-submit --master local[2]"
start=$(date +%s)
"$VENV/bin/spark-submit" --master 'local[2]' --conf spark.ui.enabled=false \
    --conf spark.driver.memory=1g --files "$BIN" "${no_python_workers[@]}" \
    --conf spark.sql.files.maxPartitionBytes=200k \
    integrations/spark/dupstrip_spark.py "$work/in" -o "$work/spark-out" \
    --clusters "$work/spark-clusters" --save-rules "$work/side/rules.json" \
    --report "$work/side/report.json" -- "${options[@]}" > "$work/spark.log" 2>&1 || {
    grep -v " INFO \| WARN \|^\s*at " "$work/spark.log" | tail -40
    exit 1
}
grep 'dupstrip_spark: [0-9]' "$work/spark.log" || true
echo "spark job: $(( $(date +%s) - start )) s"

cat "$work"/spark-out/part-* > "$work/spark.jsonl"
cat "$work"/spark-clusters/part-* > "$work/spark-clusters.jsonl"
fail=0
check() {
    if cmp -s "$1" "$2"; then
        echo "same: $3 ($(wc -l < "$1") lines)"
    else
        echo "DIFFERENT: $3"
        diff <(head -c 100000 "$1") <(head -c 100000 "$2") | head -20
        fail=1
    fi
}
check "$work/clean.jsonl" "$work/spark.jsonl" "cleaned output"
check "$work/clean-rules.json" "$work/side/rules.json" "rules"
check "$work/clean-clusters.jsonl" "$work/spark-clusters.jsonl" "clusters"

# Parquet in, Parquet out: the first file with an integer and a nullable float column
# added, as Parquet; both outputs read back as JSON Lines by dupstrip and compared.
# This run finds candidates by grouping band keys in Spark SQL (--candidates-task-docs
# 0) and components in rounds of Spark SQL joins (--components-task-edges 0), the
# first run both in one task (`stage candidates`, `stage components`): both ways are
# checked against clean.
# The same for the search of the rules' examples (below).
echo "== Parquet in and out"
python3 - "$work/part-0" > "$work/typed.jsonl" <<'EOF'
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    d = json.loads(line)
    d["year"] = 2000 + i % 20
    d["score"] = None if i % 3 == 0 else i / 7
    print(json.dumps(d, ensure_ascii=False))
EOF
"$BIN" boilerplate learn "$work/typed.jsonl" -o "$work/no-rules.json" --min-docs 1000000 -q
# Two Parquet files, so two parts: with --examples-first-share 2 the rules' examples
# are searched in the first file before the dedup sketch. Every page of the second
# file ends with a line the first never has, which becomes a rule: the complete rules
# strip more than those of the first file, so the driver must sketch again.
mkdir "$work/typed"
half=$(( $(wc -l < "$work/typed.jsonl") / 2 ))
head -n "$half" "$work/typed.jsonl" > "$work/typed-a.jsonl"
tail -n +"$(( half + 1 ))" "$work/typed.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    d["text"] += "\nSubscribe to the evening newsletter for more"
    print(json.dumps(d, ensure_ascii=False))' > "$work/typed-b.jsonl"
for f in a b; do
    "$BIN" boilerplate strip "$work/typed-$f.jsonl" --rules "$work/no-rules.json" \
        -o "$work/typed/$f.parquet" -q
done
parquet_options=(--min-docs 10)
"$BIN" clean "$work/typed" -o "$work/clean.parquet" --save-rules "$work/clean-parquet-rules.json" \
    --clusters "$work/clean-parquet-clusters.jsonl" -q "${parquet_options[@]}"
"$VENV/bin/spark-submit" --master 'local[2]' --conf spark.ui.enabled=false \
    --conf spark.driver.memory=1g --files "$BIN" "${no_python_workers[@]}" \
    integrations/spark/dupstrip_spark.py "$work/typed" -o "$work/spark.parquet" \
    --candidates-task-docs 0 --components-task-edges 0 --examples-first-share 2 --report "$work/side/parquet-report.json" \
    --checkpoint-dir "$work/checkpoints" \
    --save-rules "$work/side/parquet-rules.json" --clusters "$work/spark-parquet-clusters" \
    -- "${parquet_options[@]}" > "$work/spark-parquet.log" 2>&1 || {
    grep -v " INFO \| WARN \|^\s*at " "$work/spark-parquet.log" | tail -40
    exit 1
}
grep 'dupstrip_spark: [0-9]' "$work/spark-parquet.log" || true
# Its edges and components were checkpointed under --checkpoint-dir (Spark logs each
# file it wrote), which is emptied at the end.
if ! grep -q "Done checkpointing RDD .* to file:$work/checkpoints/" "$work/spark-parquet.log"; then
    echo "FAIL: nothing checkpointed under --checkpoint-dir"; fail=1
fi
if [ ! -d "$work/checkpoints" ] || [ -n "$(find "$work/checkpoints" -mindepth 1)" ]; then
    echo "FAIL: --checkpoint-dir missing, or not emptied at the end"; fail=1
fi
check "$work/clean-parquet-rules.json" "$work/side/parquet-rules.json" "rules (Parquet run)"
cat "$work"/spark-parquet-clusters/part-* > "$work/spark-parquet-clusters.jsonl"
check "$work/clean-parquet-clusters.jsonl" "$work/spark-parquet-clusters.jsonl" "clusters (Parquet run)"
"$BIN" boilerplate strip "$work/clean.parquet" --rules "$work/no-rules.json" -o "$work/clean-parquet.jsonl" -q
"$BIN" boilerplate strip "$work/spark.parquet" --rules "$work/no-rules.json" -o "$work/spark-parquet.jsonl" -q
check "$work/clean-parquet.jsonl" "$work/spark-parquet.jsonl" "Parquet output read back"
python3 - "$work/spark-parquet.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert rows and all(isinstance(r["year"], int) for r in rows), "year did not survive"
assert any(r["score"] is None for r in rows) and any(isinstance(r["score"], float) for r in rows)
EOF
# Uncompressed JSON Lines only (what Spark reads as text), one file in splits of 200
# KB: the scan reads the records in input order, so they are written without a
# shuffle (the runs above shuffle them, as zstd and Parquet inputs need). Nothing is
# kept between passes (--no-cache). An executor memory overhead of 1 MiB, given
# explicitly, lowers the one-task limits to what half of it holds.
echo "== uncompressed JSON Lines, written as read"
"$BIN" clean "$work/in/a.jsonl" -o "$work/clean-a.jsonl" -q "${options[@]}"
"$VENV/bin/spark-submit" --master 'local[2]' --conf spark.ui.enabled=false \
    --conf spark.driver.memory=1g --files "$BIN" "${no_python_workers[@]}" \
    --conf spark.sql.files.maxPartitionBytes=200k --conf spark.executor.memoryOverhead=1m \
    integrations/spark/dupstrip_spark.py "$work/in/a.jsonl" -o "$work/spark-a" --no-cache \
    --report "$work/side/a-report.json" -- "${options[@]}" > "$work/spark-a.log" 2>&1 || {
    grep -v " INFO \| WARN \|^\s*at " "$work/spark-a.log" | tail -40
    exit 1
}
grep 'dupstrip_spark: [0-9]' "$work/spark-a.log" || true
cat "$work"/spark-a/part-* > "$work/spark-a.jsonl"
check "$work/clean-a.jsonl" "$work/spark-a.jsonl" "cleaned output (written as read)"
# A record that is not JSON fails the job with the binary's own error, naming the file
# and line as `clean` does.
echo "== a bad record"
mkdir "$work/bad"
{ head -1 "$work/part-0"; echo '{"id": "x", "text": broken}'; } > "$work/bad/a.jsonl"
if "$VENV/bin/spark-submit" --master 'local[1]' --conf spark.ui.enabled=false \
    --conf spark.driver.memory=1g --files "$BIN" "${no_python_workers[@]}" \
    integrations/spark/dupstrip_spark.py "$work/bad" -o "$work/bad-out" > "$work/bad.log" 2>&1; then
    echo "a bad record did not fail the job"
    exit 1
fi
grep -q "dupstrip: error: $work/bad/a.jsonl:2: invalid JSON" "$work/bad.log" || {
    echo "the binary's error naming the line is not in the log"; tail -20 "$work/bad.log"; exit 1; }
grep -q "dupstrip_spark: a dupstrip stage failed" "$work/bad.log" || {
    echo "the driver did not say a stage failed"; tail -5 "$work/bad.log"; exit 1; }
echo "refused: $(grep -o 'dupstrip: error: .*' "$work/bad.log" | head -1)"
# Spark's file sources skip names starting with '_': such an input is refused, not lost.
cp "$work/part-0" "$work/bad/_hidden.jsonl"
if "$VENV/bin/spark-submit" --master 'local[1]' --conf spark.ui.enabled=false \
    --conf spark.driver.memory=1g --files "$BIN" \
    integrations/spark/dupstrip_spark.py "$work/bad/_hidden.jsonl" -o "$work/hidden-out" \
    > "$work/hidden.log" 2>&1 || ! grep -q "skip names starting with" "$work/hidden.log"; then
    echo "an input named _hidden.jsonl was not refused"; tail -5 "$work/hidden.log"; exit 1
fi
echo "refused: $(grep -o 'dupstrip_spark: .*_hidden.jsonl.*' "$work/hidden.log" | head -1)"
# The side files went into a directory that did not exist. The corpus must exercise
# what is compared: duplicates dropped, lines stripped,
# records without ids.
python3 - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
rep = json.load(open(f"{w}/side/report.json"))
rules = json.load(open(f"{w}/clean-rules.json"))
assert rep["duplicates"] >= 100, rep
assert len(rules["lines"]) + len(rules["templates"]) >= 5, rules
assert rep["inputs"] == 4, rep
# Candidates and components in one task in the first run (0 rounds), band keys grouped
# and components in rounds of joins in the Parquet run.
assert rep["story_cc_rounds"] == 0 and rep["dedup_cc_rounds"] == 0, rep
assert rep["story_candidates_in_one_task"] and rep["dedup_candidates_in_one_task"], rep
# The stories and line-key counts too (`stage stories`).
assert rep["story_counts_in_one_task"] and rep["story_edges"] > 0, rep
assert "stories: counted in one task" in rep["steps"], rep
# Counted before the first sketch (text splits, decompressed records), the records
# are few enough for the sketches to leave their band keys out.
assert rep["records_at_most"] >= rep["documents"], rep
assert rep["band_keys_left_out"] == ["stories", "dedup"], rep
rounds = json.load(open(f"{w}/side/parquet-report.json"))
assert rounds["story_cc_rounds"] >= 1 and rounds["dedup_cc_rounds"] >= 1, rounds
assert not rounds["story_candidates_in_one_task"], rounds
assert not rounds["dedup_candidates_in_one_task"], rounds
assert "stories: band buckets" in rounds["steps"], rounds
assert not rounds["story_counts_in_one_task"], rounds
# Not counted where no one task takes them (--candidates-task-docs 0).
assert rounds["band_keys_left_out"] == [] and rounds["records_at_most"] is None, rounds
assert rep["output_shuffled"] and rounds["output_shuffled"], (rep, rounds)
plain = json.load(open(f"{w}/side/a-report.json"))
assert not plain["output_shuffled"] and plain["input_parts"] >= 3, plain
assert plain["duplicates"] >= 50 and plain["band_keys_left_out"] == ["stories", "dedup"], plain
# One-task limits: the defaults on a local master; what half of 1 MiB holds (356 bytes
# a signature at 128 permutations, 42 an edge) with that overhead; as given (0).
assert (rep["candidates_task_docs"], rep["components_task_edges"]) == (1_000_000, 5_000_000), rep
assert (plain["candidates_task_docs"], plain["components_task_edges"]) == (1472, 12483), plain
assert plain["story_candidates_in_one_task"] and plain["story_cc_rounds"] == 0, plain
# 750 signatures fit half of 1 MiB; with their line keys (16 bytes each, and 200 more
# bytes a record), they do not: candidates in one task, line keys counted in Spark SQL.
held = plain["documents"] * (2 * 128 + 200) + plain["story_line_keys"] * 16
assert plain["story_task_bytes"] == held > 1 << 19, plain
assert plain["documents"] * (2 * 128 + 100) <= 1 << 19, plain
assert not plain["story_counts_in_one_task"], plain
assert "an overhead of" in open(f"{w}/spark-a.log").read()
assert "stories: candidates in one task" in plain["steps"], plain
assert (rounds["candidates_task_docs"], rounds["components_task_edges"]) == (0, 0), rounds
assert rounds["checkpoint_dir"].endswith("/checkpoints") and rep["checkpoint_dir"] is None, rounds
# Examples: searched in the first parts before the dedup sketch. In the first run, the
# keys first met later changed nothing stripped; in the Parquet run, the second file's
# own line did, so the texts were sketched again.
for r in (rep, rounds):
    print("examples:", {k: r.get(k) for k in ("examples_parts_read", "input_parts",
          "keys_without_example_in_first_parts", "rules_changed_by_later_examples")})
assert rep["examples_parts_read"] < rep["input_parts"], rep
assert rep["keys_without_example_in_first_parts"] > 0, rep
assert rep["rules_changed_by_later_examples"] is False, rep
assert (rounds["examples_parts_read"], rounds["input_parts"]) == (1, 2), rounds
assert rounds["rules_changed_by_later_examples"] is True, rounds
assert any(l.endswith("   \n") for l in open(f"{w}/spark.jsonl", encoding="utf-8")), \
    "no record with trailing spaces written"

clusters = [json.loads(l) for l in open(f"{w}/clean-clusters.jsonl")]
for name in ("d.jsonl", "a.jsonl"):
    assert any(":" in m["id"] and name in m["id"] for c in clusters for m in c["members"]), \
        f"no record of {name} without an id in a cluster"
print(f"corpus: {rep['documents']} documents, {rep['duplicates']} duplicates, "
      f"{len(rules['lines'])} line / {len(rules['templates'])} template rules")
EOF
exit $fail
