#!/usr/bin/env bash
# The Spark driver's wall time and throughput on local[N], next to `clean -j N` on the
# same generated corpus, with a check that both outputs are identical.
#
#   bash benches/spark.sh [MB] [N]      (default 50 MB, local[2])
# Needs pyspark (SPARK_VENV, default target/spark-venv, as test_equivalence.sh installs).
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-50}
N=${2:-2}
VENV=$(realpath "${SPARK_VENV:-target/spark-venv}")
cargo build --release --locked --quiet --bin dupstrip
BIN=$PWD/target/release/dupstrip
OUT=${BENCH_OUT:-bench-out/spark}
mkdir -p "$OUT"
docs=$(( MB * 1000000 / 3700 ))
corpus=$OUT/news-$MB.jsonl
[ -s "$corpus" ] || "$BIN" synth --boilerplate --docs "$docs" --seed 3 -o "$corpus" --truth /dev/null 2>/dev/null
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON=$VENV/bin/python PYSPARK_DRIVER_PYTHON=$VENV/bin/python
/usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$BIN" clean "$corpus" -o "$OUT/clean.jsonl" -j "$N" -q
read -r secs kb < "$OUT/time.txt"
echo "clean -j $N: $secs s, $(( kb / 1024 )) MiB"
rm -rf "$OUT/out" "$OUT/clusters"
/usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$VENV/bin/spark-submit" --master "local[$N]" \
    --conf spark.ui.enabled=false --conf spark.driver.memory=4g --files "$BIN" \
    --conf spark.python.daemon.module=dupstrip_no_python_workers \
    integrations/spark/dupstrip_spark.py "$corpus" -o "$OUT/out" --clusters "$OUT/clusters" \
    --report "$OUT/report.json" > "$OUT/spark.log" 2>&1
read -r secs kb < "$OUT/time.txt"
echo "spark local[$N]: $secs s wall (spark-submit), driver JVM peak $(( kb / 1024 )) MiB"
python3 -c "import json; r = json.load(open('$OUT/report.json')); print('  phases:', r['timings'], '-', r['documents'], 'documents')"
cat "$OUT"/out/part-* | cmp - "$OUT/clean.jsonl" && echo "  output identical to clean's"
