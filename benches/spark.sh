#!/usr/bin/env bash
# The Spark driver's wall time on local[N], next to `clean -j 1` and `clean -j N` on the
# same generated news corpus, with a check that the outputs are identical; with two
# sizes or more, the marginal throughput per core (the slope between the smallest
# and the largest) of both.
#
#   bash benches/spark.sh ["MB..."] [N]     (default "200 1000", local[2])
#
# Needs pyspark (SPARK_VENV, default target/spark-venv, as test_equivalence.sh
# installs). The job runs with a Python daemon module that does not exist, so it
# fails if any record passes through a Python worker.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-200 1000}
N=${2:-2}
VENV=$(realpath "${SPARK_VENV:-target/spark-venv}")
cargo build --release --locked --quiet --bin dupstrip
BIN=$PWD/target/release/dupstrip
OUT=${BENCH_OUT:-bench-out/spark}
mkdir -p "$OUT"
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON=$VENV/bin/python PYSPARK_DRIVER_PYTHON=$VENV/bin/python

timed() {  # timed FILE CMD...: run CMD, "seconds peak_KiB" into FILE
    local file=$1
    shift
    /usr/bin/time -f "%e %M" -o "$file" "$@"
}

rows=()
for MB in $SIZES; do
    docs=$(( MB * 1000000 / 3700 ))
    corpus=$OUT/news-$MB.jsonl
    [ -s "$corpus" ] || "$BIN" synth --boilerplate --docs "$docs" --seed 3 -o "$corpus" --truth /dev/null 2>/dev/null
    timed "$OUT/t1.txt" "$BIN" clean "$corpus" -o "$OUT/clean.jsonl" -j 1 -q
    timed "$OUT/tn.txt" "$BIN" clean "$corpus" -o "$OUT/clean.jsonl" -j "$N" -q
    rm -rf "$OUT/out" "$OUT/clusters"
    timed "$OUT/ts.txt" "$VENV/bin/spark-submit" --master "local[$N]" \
        --conf spark.ui.enabled=false --conf spark.driver.memory=4g --files "$BIN" \
        --conf spark.python.daemon.module=dupstrip_no_python_workers \
        integrations/spark/dupstrip_spark.py "$corpus" -o "$OUT/out" --clusters "$OUT/clusters" \
        --report "$OUT/report-$MB.json" > "$OUT/spark-$MB.log" 2>&1
    read -r c1 _ < "$OUT/t1.txt"
    read -r cn kbn < "$OUT/tn.txt"
    read -r sp kbs < "$OUT/ts.txt"
    same=no
    cat "$OUT"/out/part-* | cmp -s - "$OUT/clean.jsonl" && same=yes
    echo "$MB MB: clean -j 1 $c1 s; clean -j $N $cn s (max RSS $(( kbn / 1024 )) MiB, mapped input included); spark local[$N] $sp s (driver JVM max RSS $(( kbs / 1024 )) MiB); spark/clean -j $N $(python3 -c "print(round($sp / $cn, 2))")x; output identical: $same"
    python3 -c "import json; r = json.load(open('$OUT/report-$MB.json')); print('  phases:', r['timings'], '-', r['documents'], 'documents'); print('  steps:', r.get('steps'))"
    rows+=("$MB $c1 $sp")
    [ "$same" = yes ] || exit 1
done
if [ "${#rows[@]}" -ge 2 ]; then
    read -r m1 a1 s1 <<< "${rows[0]}"
    read -r m2 a2 s2 <<< "${rows[-1]}"
    python3 - "$m1" "$a1" "$s1" "$m2" "$a2" "$s2" "$N" <<'EOF'
import sys
m1, a1, s1, m2, a2, s2, n = map(float, sys.argv[1:])
clean = (m2 - m1) / (a2 - a1)
spark = (m2 - m1) / (s2 - s1) / n
print(f"marginal throughput {m1:.0f} -> {m2:.0f} MB: clean -j 1 {clean:.1f} MB/s; "
      f"spark {spark:.1f} MB/s per core ({spark / clean:.2f} of clean -j 1); "
      f"spark fixed part {s1 - (m1 / (spark * n)):.1f} s")
EOF
fi
