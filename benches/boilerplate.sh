#!/usr/bin/env bash
# Quality of boilerplate learning on data the rules were not built on (issue 13).
#
#   bash benches/boilerplate.sh [BASELINE_DUPSTRIP]
#
# 1. Content with no boilerplate: real text installed by Debian packages (man pages
#    in English and ten other languages, gcloud's pages apart, copyright files,
#    common licenses, changelogs, plain-text docs; benches/content_corpus.py). Prints
#    per source the share of lines `clean` removed and the documents losing over half.
# 2. The same corpus with boilerplate planted into it (nine made-up sites): line
#    precision and recall of the planted lines.
# 3. News pages with layouts drawn from the grammar (`synth --layouts random`) with
#    seeds 101-105, which no rule was tuned on (tuning used 1-5 and 21): boilerplate
#    line precision, recall and F1, and near-duplicate pair F1.
# With BASELINE_DUPSTRIP (another build, e.g. of an older commit), every figure is
# given for it too. Writes under bench-out/boilerplate/.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-}
out=bench-out/boilerplate
mkdir -p "$out"
cargo build --release --locked --quiet --bin dupstrip --example score_clean
new=target/release/dupstrip
bins=("new=$new")
[ -n "$base" ] && bins+=("baseline=$base")
[ -f "$out/content/content.jsonl" ] || python3 benches/content_corpus.py "$out/content"
for nb in "${bins[@]}"; do
  name=${nb%%=*}; bin=${nb#*=}
  echo "== $name: content (no boilerplate)"
  "$bin" clean "$out/content/content.jsonl" -o "$out/$name-content.jsonl" --mode annotate -q
  python3 benches/content_score.py "$out/$name-content.jsonl" > "$out/$name-content.json"
  echo "== $name: content with planted boilerplate"
  "$bin" clean "$out/content/planted.jsonl" -o "$out/$name-planted.jsonl" --mode annotate -q
  python3 benches/content_score.py "$out/$name-planted.jsonl" "$out/content/planted-truth.jsonl" \
    > "$out/$name-planted.json"
  python3 - "$out/$name-content.json" "$out/$name-planted.json" <<'PY'
import json, sys
c, p = (json.load(open(f)) for f in sys.argv[1:])
print(f"{'source':<12} {'docs':>5} {'removed':>8} {'>half':>6} {'planted run removed':>20}")
for src, s in c["by_source"].items():
    q = p["by_source"][src]
    print(f"{src:<12} {s['documents']:>5} {s['share_of_own_lines_removed']:>8.2%} "
          f"{s['documents_losing_over_half']:>6} {q['share_of_own_lines_removed']:>20.2%}")
print(f"{'all':<12} {'':>5} {c['share_of_own_lines_removed']:>8.2%} {c['documents_losing_over_half']:>6} "
      f"{p['share_of_own_lines_removed']:>20.2%}")
print(f"planted boilerplate: line precision {p['planted_precision']:.4f} recall {p['planted_recall']:.4f}")
PY
  echo "== $name: news with random layouts (held-out seeds)"
  printf '%-6s %-9s %-9s %-9s %-9s\n' seed line_P line_R line_F1 pair_F1
  for seed in 101 102 103 104 105; do
    corpus="$out/news-$seed.jsonl"
    [ -f "$corpus" ] || "$new" synth --layouts random --docs 3000 --seed "$seed" -o "$corpus" \
      --truth "$out/news-truth-$seed.jsonl"
    "$bin" clean "$corpus" -o "$out/$name-news-$seed.jsonl" --mode annotate -q
    target/release/examples/score_clean "$out/news-truth-$seed.jsonl" "$out/$name-news-$seed.jsonl" \
      | python3 -c "
import json, sys
s = json.load(sys.stdin); p, r = s['boilerplate_line_precision'], s['boilerplate_line_recall']
print('%-6s %-9.4f %-9.4f %-9.4f %-9.4f' % ('$seed', p, r, 2 * p * r / max(p + r, 1e-9), s['pair_f1']))"
  done
done
