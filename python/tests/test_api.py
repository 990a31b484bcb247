"""The Python package against the command line it wraps: same decisions, same rules,
same stripped text, same messages. Corpora are generated with `dupstrip synth`
(through `dupstrip.run`, in process)."""

import json

import pytest

import dupstrip


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """800 documents with planted near-duplicates (light and heavy edits, partial
    copies)."""
    d = tmp_path_factory.mktemp("corpus")
    path = d / "corpus.jsonl"
    dupstrip.run(["synth", "--docs", "800", "--seed", "5", "-o", str(path), "--truth", str(d / "truth.jsonl")])
    return path


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    """600 news pages of outlets with random layouts (boilerplate planted)."""
    d = tmp_path_factory.mktemp("news")
    path = d / "news.jsonl"
    dupstrip.run(
        ["synth", "--layouts", "random", "--docs", "600", "--seed", "9", "-o", str(path), "--truth", str(d / "truth.jsonl")]
    )
    return path


def cli_duplicates_of(texts, tmp_path, flags):
    """`dupstrip dedup FLAGS` on a JSON Lines file of `texts`, as find_duplicates answers."""
    path = tmp_path / "texts.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}) + "\n")
    clusters = tmp_path / "clusters.jsonl"
    dupstrip.run(["dedup", str(path), "-o", str(tmp_path / "out.jsonl"), "--clusters", str(clusters), "-q", *flags])
    want = [None] * len(texts)
    for c in read_jsonl(clusters):
        for m in c["members"]:
            if m["id"] != c["keep"]:
                want[int(m["id"])] = int(c["keep"])
    return want


def cli_duplicates(path, tmp_path, **options):
    """What `dupstrip dedup` decides, as find_duplicates answers: index of the kept
    document for every dropped one."""
    clusters = tmp_path / "clusters.jsonl"
    dupstrip.dedup([path], tmp_path / "out.jsonl", clusters=clusters, **options)
    records = read_jsonl(path)
    index = {r["id"]: i for i, r in enumerate(records)}
    want = [None] * len(records)
    for c in read_jsonl(clusters):
        for m in c["members"]:
            if m["id"] != c["keep"]:
                want[index[m["id"]]] = index[c["keep"]]
    return want


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"threshold": 0.5, "ngram": 3},
        {"verify": "exact", "keep": "longest", "num_perm": 64},
        {"shingle": "char", "ngram": 7, "scheme": "classic"},
    ],
)
def test_find_duplicates_decides_as_dedup(corpus, tmp_path, options):
    texts = [r["text"] for r in read_jsonl(corpus)]
    got = dupstrip.find_duplicates(texts, **options)
    want = cli_duplicates(corpus, tmp_path, **options)
    assert got == want
    assert sum(d is not None for d in got) > 50


def test_find_duplicates_is_the_same_at_any_thread_count(corpus):
    texts = [r["text"] for r in read_jsonl(corpus)]
    assert dupstrip.find_duplicates(texts, threads=1) == dupstrip.find_duplicates(texts, threads=2)


def test_any_iterable_of_str(corpus):
    texts = [r["text"] for r in read_jsonl(corpus)]
    assert dupstrip.find_duplicates(t for t in texts) == dupstrip.find_duplicates(texts)
    assert dupstrip.find_duplicates(tuple(texts)) == dupstrip.find_duplicates(texts)


def test_small_and_empty_inputs():
    assert dupstrip.find_duplicates([]) == []
    assert dupstrip.find_duplicates([""]) == [None]
    a = "one two three four five six seven eight nine ten"
    assert dupstrip.find_duplicates([a, "", a, a + "!"]) == [None, None, 0, 0]


def test_pyarrow_arrays_without_python_strings(corpus):
    pa = pytest.importorskip("pyarrow")
    texts = [r["text"] for r in read_jsonl(corpus)]
    want = dupstrip.find_duplicates(texts)
    assert dupstrip.find_duplicates(pa.array(texts)) == want
    assert dupstrip.find_duplicates(pa.array(texts, type=pa.large_string())) == want
    chunked = pa.chunked_array([texts[:300], texts[300:555], texts[555:]])
    assert dupstrip.find_duplicates(chunked) == want
    # A slice has an offset into its buffers.
    assert dupstrip.find_duplicates(pa.array(texts).slice(100, 400)) == dupstrip.find_duplicates(texts[100:500])
    if hasattr(pa, "string_view"):
        assert dupstrip.find_duplicates(pa.array(texts, type=pa.string_view())) == want
    # A null is an empty text.
    with_null = pa.array([texts[0], None, texts[0]])
    assert dupstrip.find_duplicates(with_null) == dupstrip.find_duplicates([texts[0], "", texts[0]])
    # Nulls in a slice that does not start on a byte of the validity bitmap.
    mixed = [None if i % 7 == 3 else t for i, t in enumerate(texts[:60])]
    sliced = pa.array(mixed).slice(5, 50)
    assert dupstrip.find_duplicates(sliced) == dupstrip.find_duplicates([t or "" for t in mixed[5:55]])
    with pytest.raises(TypeError, match="string array"):
        dupstrip.find_duplicates(pa.array([1, 2, 3]))


def test_options_become_flags_and_file_options_are_refused(tmp_path, corpus):
    texts = [r["text"] for r in read_jsonl(corpus)][:200]
    # Lists repeat a flag; a value may start with "-" (attached with "=").
    a = dupstrip.find_duplicates(texts, no_normalize=["digits", "punctuation"], seed=5)
    b = cli_duplicates_of(texts, tmp_path, ["--no-normalize", "digits", "--no-normalize", "punctuation", "--seed", "5"])
    assert a == b
    with pytest.raises(dupstrip.DupstripError, match="threshold"):
        dupstrip.find_duplicates(texts, threshold=-0.5)
    with pytest.raises(TypeError, match=r"does not take clusters=, state="):
        dupstrip.find_duplicates(texts, state=tmp_path / "st", clusters="c.jsonl")
    with pytest.raises(TypeError, match=r"does not take rules="):
        dupstrip.learn_boilerplate(texts, rules="r.json")
    with pytest.raises(ValueError, match="no inputs"):
        dupstrip.dedup([], tmp_path / "out.jsonl")
    with pytest.raises(dupstrip.DupstripError, match="threads must be at least 1"):
        dupstrip.find_duplicates(texts, threads=0)


def test_run_takes_the_thread_count_and_clean_is_quiet(news, tmp_path, capfd):
    report = dupstrip.run(["dedup", str(news), "-o", str(tmp_path / "o.jsonl"), "-j", "1", "-q"])
    assert report["threads"] == 1
    report = dupstrip.clean(news, tmp_path / "c.jsonl", threads=2)
    assert report["threads"] == 2
    assert capfd.readouterr().err == ""
    # Stage commands set up their threads too: twice in one process.
    for _ in range(2):
        dupstrip.run(["stage", "config", "-o", str(tmp_path / "job.json")])


def test_rules_pickle(news):
    import pickle

    texts = [r["text"] for r in read_jsonl(news)]
    rules = dupstrip.learn_boilerplate(texts)
    again = pickle.loads(pickle.dumps(rules))
    assert again.to_json() == rules.to_json() and again.strip(texts[:20]) == rules.strip(texts[:20])


def test_bad_texts_and_options_are_errors():
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        dupstrip.find_duplicates(["a", 1])
    with pytest.raises(TypeError, match="single str"):
        dupstrip.find_duplicates("abc")
    with pytest.raises(dupstrip.DupstripError, match="threshold"):
        dupstrip.find_duplicates(["a"], threshold=1.5)
    with pytest.raises(dupstrip.DupstripError, match="--no-such-option"):
        dupstrip.find_duplicates(["a"], no_such_option=3)


def test_errors_carry_the_command_lines_message(tmp_path):
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(dupstrip.DupstripError, match="missing.jsonl"):
        dupstrip.dedup([missing], tmp_path / "out.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(dupstrip.DupstripError, match=r"bad.jsonl:2: invalid JSON"):
        dupstrip.dedup([bad], tmp_path / "out.jsonl")
    report = dupstrip.dedup([bad], tmp_path / "out.jsonl", skip_bad_records=True, rejects=tmp_path / "rejects.jsonl")
    assert report["documents"]["rejected"] == 1
    reject = read_jsonl(tmp_path / "rejects.jsonl")[0]
    assert reject["line"] == 2 and reject["input"].endswith("bad.jsonl")


def test_clean_and_dedup_return_the_report(news, tmp_path):
    report = dupstrip.clean(news, tmp_path / "clean.jsonl", clusters=tmp_path / "c.jsonl", report=tmp_path / "r.json")
    assert report == json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    docs = report["documents"]
    assert docs["read"] == 600
    assert docs["read"] == docs["written"] + docs["dropped"] + docs["rejected"] + docs["emptied_dropped"]
    assert report["boilerplate"]["markers"] + report["boilerplate"]["lines"] > 0
    assert len(read_jsonl(tmp_path / "clean.jsonl")) == docs["written"]
    report = dupstrip.dedup([news], tmp_path / "dedup.jsonl", threshold=0.9, mode="annotate")
    assert report["command"] == "dedup" and report["documents"]["written"] == 600
    # Commands without a report return None; --help is not a run.
    assert dupstrip.run(["synth", "--docs", "3", "-o", str(tmp_path / "s.jsonl"), "--truth", str(tmp_path / "t.jsonl")]) is None
    with pytest.raises(dupstrip.DupstripError, match="Usage"):
        dupstrip.run(["dedup", "--help"])


def test_clean_writes_the_html_report(news, tmp_path):
    report = dupstrip.clean(news, tmp_path / "clean.jsonl", html=tmp_path / "review.html")
    page = (tmp_path / "review.html").read_text(encoding="utf-8")
    for section in ("summary", "charts", "clusters", "rules", "samples"):
        assert f'<section id="{section}"' in page
    assert report["timings"]["html"] >= 0
    with pytest.raises(TypeError, match=r"does not take html="):
        dupstrip.find_duplicates(["a text"], html=tmp_path / "x.html")


def test_learned_rules_and_stripping_match_the_command_line(news, tmp_path):
    texts = [r["text"] for r in read_jsonl(news)]
    rules = dupstrip.learn_boilerplate(texts)
    cli_rules = tmp_path / "rules.json"
    dupstrip.run(["boilerplate", "learn", str(news), "-o", str(cli_rules), "--quiet"])
    assert json.loads(rules.to_json()) == json.loads(cli_rules.read_text(encoding="utf-8"))
    assert len(rules) > 0 and repr(rules).startswith("Rules(lines=")

    stripped = rules.strip(texts)
    out = tmp_path / "stripped.jsonl"
    dupstrip.run(["boilerplate", "strip", str(news), "--rules", str(cli_rules), "-o", str(out), "--quiet"])
    assert stripped == [r["text"] for r in read_jsonl(out)]
    assert sum(len(s) for s in stripped) < sum(len(t) for t in texts)
    assert rules.strip(texts, threads=1) == stripped

    rules.save(tmp_path / "saved.json")
    again = dupstrip.Rules.load(tmp_path / "saved.json")
    assert again.to_json() == rules.to_json()
    assert dupstrip.Rules.from_json(rules.to_json()).strip(texts[:10]) == stripped[:10]
    with pytest.raises(dupstrip.DupstripError, match="nope.json"):
        dupstrip.Rules.load(tmp_path / "nope.json")


def test_version():
    assert dupstrip.__version__.count(".") == 2


def test_docstring_examples():
    import doctest

    failed, attempted = doctest.testmod(dupstrip, extraglobs={"dupstrip": dupstrip})
    assert attempted >= 2 and failed == 0


def test_every_string_width_reads_as_the_command_line_reads_it(tmp_path):
    # CPython stores strings with 1 (ASCII, Latin-1), 2 (Arabic) or 4 (emoji) bytes
    # per character; each is encoded to UTF-8 as a JSON Lines file would carry it.
    base = ["café crème brûlée à la carte du jour numéro {}", "قال المتحدث باسم الوزارة إن الاجتماع {}",
            "emoji 🙂 party 🎉 tonight at the old place {}", "plain ascii words for the test number {}"]
    texts = [b.format(i % 3) for i in range(12) for b in base]
    path = tmp_path / "t.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n")
    got = dupstrip.find_duplicates(texts, ngram=2)
    assert got == cli_duplicates(path, tmp_path, ngram=2)
    # Digits are folded by normalization: one original per base text.
    assert sum(d is None for d in got) == 4
    # A lone surrogate (json.loads keeps a "\\ud800" escape as one) reads as U+FFFD,
    # as the command line reads the escape.
    odd = ["left \ud800 right " + t for t in texts[:8]] + texts[:8]
    odd_path = tmp_path / "odd.jsonl"
    with open(odd_path, "w", encoding="utf-8") as f:
        for i, t in enumerate(odd):
            f.write(json.dumps({"id": str(i), "text": t}) + "\n")
    assert dupstrip.find_duplicates(odd, ngram=2) == cli_duplicates(odd_path, tmp_path, ngram=2)
    assert dupstrip.find_duplicates(["", ""]) == [None, None]


def test_boilerplate_calls_take_arrow_arrays(news):
    pa = pytest.importorskip("pyarrow")
    texts = [r["text"] for r in read_jsonl(news)]
    rules = dupstrip.learn_boilerplate(texts, threads=2)
    arrow = pa.chunked_array([texts[:250], texts[250:]])
    assert dupstrip.learn_boilerplate(arrow).to_json() == rules.to_json()
    assert rules.strip(arrow) == rules.strip(texts)
