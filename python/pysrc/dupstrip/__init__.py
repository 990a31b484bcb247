"""dupstrip in process: near-duplicate detection and boilerplate stripping.

The engine is the same Rust code as the ``dupstrip`` command line, run in this
process across threads with the GIL released. Options are the command line's long
flags, spelled with ``_`` for ``-`` (``num_perm=128`` is ``--num-perm 128``); their
defaults, checks and error messages are the command line's.

>>> import dupstrip
>>> texts = ["the cat sat on the mat today", "the cat sat on the mat today!", "a dog"]
>>> dupstrip.find_duplicates(texts, ngram=3)
[None, 0, None]

Files, as ``dupstrip clean`` and ``dupstrip dedup`` process them::

    report = dupstrip.clean(["dump.jsonl.zst"], "clean.jsonl", clusters="clusters.jsonl")
    report["documents"]["dropped"]

Boilerplate rules, learned from texts in memory::

    rules = dupstrip.learn_boilerplate(pages)
    stripped = rules.strip(pages)
    rules.save("rules.json")
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, List, Optional, Sequence, Union

from . import _dupstrip
from ._dupstrip import DupstripError

__all__ = [
    "DupstripError",
    "Rules",
    "__version__",
    "clean",
    "dedup",
    "find_duplicates",
    "learn_boilerplate",
    "run",
]

__version__: str = _dupstrip.__version__

PathLike = Union[str, "os.PathLike[str]"]


def _flags(options: dict) -> List[str]:
    """Keyword options as command-line flags: ``min_docs=3`` -> ``--min-docs=3``.

    ``True`` gives the bare flag, ``False`` and ``None`` leave it out, a list or
    tuple repeats it. A trailing ``_`` is dropped (``format_`` -> ``--format``).
    Values are attached with ``=``, so one that starts with ``-`` is not read as a
    flag.
    """
    out: List[str] = []
    for key, value in options.items():
        if value is None or _is_bool(value) and not value:
            continue
        flag = "--" + key.rstrip("_").replace("_", "-")
        if _is_bool(value):
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            out += [f"{flag}={_arg(v)}" for v in value]
        else:
            out.append(f"{flag}={_arg(value)}")
    return out


def _is_bool(value: Any) -> bool:
    # numpy's booleans are not `bool`, and would read as the text "True".
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _arg(value: Any) -> str:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _no_file_options(call: str, options: dict, files: Sequence[str]) -> None:
    """Options about files and states mean nothing on texts in memory: refuse them
    rather than ignore them."""
    bad = sorted(k for k in options if k.rstrip("_") in files)
    if bad:
        raise TypeError(
            f"{call}() does not take {', '.join(k + '=' for k in bad)}: it works on texts in "
            "memory (use dupstrip.dedup() or dupstrip.clean() on files)"
        )


_FILE_OPTIONS = (
    "output", "clusters", "report", "rejects", "mode", "state", "no_id_match", "text_field",
    "id_field", "format", "quiet", "mem_limit", "tmp_dir", "mmap", "no_mmap", "rules",
    "save_rules", "on_empty", "min_chars", "html",
)


def _inputs(inputs: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(inputs, (str, os.PathLike)):
        return [os.fspath(inputs)]
    paths = [os.fspath(p) for p in inputs]
    if not paths:
        # The command line reads standard input then, which would wait forever here.
        raise ValueError("no inputs: give at least one file or directory")
    return paths


def _texts(texts: Any) -> Any:
    """A ``list`` of ``str`` as it is, a pyarrow string array as its buffers (no copy
    into Python strings), any other iterable as a list."""
    if isinstance(texts, list):
        return texts
    if type(texts).__module__.split(".")[0] == "pyarrow":
        return ("arrow", _arrow_parts(texts))
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of str, not a single str")
    return list(texts)


def _arrow_parts(array: Any) -> list:
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        chunks = array.chunks
    elif isinstance(array, pa.Array):
        chunks = [array]
    else:
        raise TypeError(f"expected a pyarrow Array or ChunkedArray, got {type(array).__name__}")
    parts = []
    for chunk in chunks:
        t = chunk.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t):
                # A view array has no offsets buffer: copied once into one that has.
                chunk = chunk.cast(pa.large_string())
            else:
                raise TypeError(f"expected an Arrow string array, got type {t}")
        validity, offsets, data = (_bytes(b) for b in chunk.buffers()[:3])
        large = pa.types.is_large_string(chunk.type)
        parts.append((offsets, data, validity, chunk.offset, len(chunk), large))
    return parts


def _bytes(buffer: Any) -> Any:
    """An Arrow buffer as unsigned bytes, without a copy (``None`` stays ``None``)."""
    return None if buffer is None else memoryview(buffer).cast("B")


def _report(text: Optional[str]) -> Optional[dict]:
    return None if text is None else json.loads(text)


def run(args: Sequence[str], threads: Optional[int] = None) -> Optional[dict]:
    """Run any ``dupstrip`` command line in this process.

    ``args`` are the arguments after ``dupstrip``. Returns the run's report as a
    dict for ``dedup``, ``clean`` and ``boilerplate strip``, else ``None``.

    >>> dupstrip.run(["dedup", "in.jsonl", "-o", "out.jsonl", "--quiet"])  # doctest: +SKIP
    """
    return _report(_dupstrip.run(["dupstrip", *args], threads))


def _command(command: List[str], inputs, output, options: dict) -> Optional[dict]:
    options = dict(options)
    threads = options.get("threads")
    options.setdefault("quiet", True)
    args = [*command, *_inputs(inputs), f"--output={os.fspath(output)}", *_flags(options)]
    return run(args, threads)


def clean(
    inputs: Union[PathLike, Sequence[PathLike]], output: PathLike, **options: Any
) -> dict:
    """Strip boilerplate, then drop near-duplicates: ``dupstrip clean``.

    Takes ``clean``'s options as keywords (``rules="rules.json"``,
    ``save_rules=...``, ``min_docs=5``, ``clusters=...``, ``report=...``,
    ``threshold=0.5``, ``threads=4``, ...). ``quiet`` defaults to ``True`` (no summary
    on stderr). Returns the run's report (the JSON of ``--report``) as a dict.

    >>> report = dupstrip.clean(["dump.jsonl.zst"], "clean.jsonl",
    ...                         clusters="clusters.jsonl")  # doctest: +SKIP
    >>> report["documents"]["dropped"]  # doctest: +SKIP
    """
    return _command(["clean"], inputs, output, options)


def dedup(
    inputs: Union[PathLike, Sequence[PathLike]], output: PathLike, **options: Any
) -> dict:
    """Drop or annotate near-duplicates: ``dupstrip dedup``.

    Takes ``dedup``'s options as keywords (``threshold=0.8``, ``ngram=5``,
    ``num_perm=128``, ``mode="annotate"``, ``keep="longest"``, ``state=...``,
    ``threads=4``, ...). Returns the run's report as a dict.

    >>> report = dupstrip.dedup(["dump.jsonl"], "out.jsonl", threshold=0.8)  # doctest: +SKIP
    """
    return _command(["dedup"], inputs, output, options)


def find_duplicates(
    texts: Union[Sequence[str], Iterable[str], Any],
    *,
    threshold: Optional[float] = None,
    ngram: Optional[int] = None,
    num_perm: Optional[int] = None,
    threads: Optional[int] = None,
    **options: Any,
) -> List[Optional[int]]:
    """For each text, in order: the index of the kept text it duplicates, or ``None``.

    The decisions are ``dupstrip dedup``'s on the same texts (keep-first, the same
    normalization, shingles, verification and determinism); options not given take
    ``dedup``'s defaults (threshold 0.8, word 5-grams, 128 permutations). Other
    ``dedup`` options go as keywords (``shingle="char"``, ``verify="exact"``,
    ``keep="longest"``, ``seed=...``). ``texts`` is a list of ``str``, any iterable of
    ``str``, or a pyarrow ``string``/``large_string``/``string_view`` array, chunked
    or not (read from its buffers, not turned into Python strings; a null is an empty
    text, which is never a duplicate).

    >>> dupstrip.find_duplicates(["a b c d e f", "a b c d e f", "x y z"], ngram=2)
    [None, 0, None]
    """
    _no_file_options("find_duplicates", options, _FILE_OPTIONS)
    flags = _flags(dict(threshold=threshold, ngram=ngram, num_perm=num_perm, **options))
    return _dupstrip.find_duplicates(_texts(texts), flags, threads)


def learn_boilerplate(
    texts: Union[Sequence[str], Iterable[str], Any],
    *,
    min_docs: Optional[int] = None,
    min_fraction: Optional[float] = None,
    threads: Optional[int] = None,
    **options: Any,
) -> Rules:
    """Learn boilerplate rules from texts, as ``dupstrip boilerplate learn`` does.

    A rule needs its line in at least ``min_docs`` distinct stories (default 5) and
    evidence that it is not the page's own text. Returns :class:`Rules`; strip with
    ``rules.strip(texts)``, write with ``rules.save(path)``.

    >>> rules = dupstrip.learn_boilerplate(pages, min_docs=3)  # doctest: +SKIP
    >>> rules  # doctest: +SKIP
    Rules(lines=5, templates=13, markers=1)
    """
    _no_file_options("learn_boilerplate", options, _FILE_OPTIONS)
    flags = _flags(dict(min_docs=min_docs, min_fraction=min_fraction, **options))
    return Rules(_dupstrip.learn_boilerplate(_texts(texts), flags, threads))


class Rules:
    """Boilerplate rules: learned by :func:`learn_boilerplate`, or read from a rules
    file (``dupstrip boilerplate learn -o``, ``clean --save-rules``, or by hand).

    >>> rules = dupstrip.Rules.load("rules.json")  # doctest: +SKIP
    >>> stripped = rules.strip(pages)  # doctest: +SKIP
    """

    __slots__ = ("_rules",)

    def __init__(self, rules: "_dupstrip.Rules") -> None:
        self._rules = rules

    @staticmethod
    def load(path: PathLike) -> "Rules":
        """Read a rules file."""
        return Rules(_dupstrip.Rules.load(os.fspath(path)))

    @staticmethod
    def from_json(text: str) -> "Rules":
        """Rules from the text of a rules file."""
        return Rules(_dupstrip.Rules.from_json(text))

    def to_json(self) -> str:
        """The rules file's text (versioned JSON, meant to be read and edited)."""
        return self._rules.to_json()

    def save(self, path: PathLike) -> None:
        """Write the rules file (atomically)."""
        self._rules.save(os.fspath(path))

    def strip(self, texts: Union[Sequence[str], Iterable[str], Any], *, threads: Optional[int] = None) -> List[str]:
        """Each text with the rules' lines removed, as ``dupstrip boilerplate strip``
        writes it. ``texts`` as for :func:`find_duplicates`."""
        return self._rules.strip(_texts(texts), threads)

    @property
    def lines(self) -> int:
        """Number of line rules."""
        return self._rules.lines

    @property
    def templates(self) -> int:
        """Number of template rules."""
        return self._rules.templates

    @property
    def markers(self) -> int:
        """Number of marker rules."""
        return self._rules.markers

    def __len__(self) -> int:
        return len(self._rules)

    def __reduce__(self):
        # Pickled as the rules file's text (datasets.map with num_proc, multiprocessing).
        return (Rules.from_json, (self.to_json(),))

    def __repr__(self) -> str:
        return repr(self._rules)
