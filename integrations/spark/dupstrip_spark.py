"""dupstrip clean on Apache Spark.

Runs the same job as `dupstrip clean` (learn boilerplate, strip it, drop near-duplicates
of the stripped texts) with Spark SQL reading, shuffling, joining and grouping, and the
dupstrip binary doing every per-record decision through its stage commands (`dupstrip
stage --help`), piped by Spark SQL's `TRANSFORM ... USING`. Records go from Spark's
JVM to the binary and back: no record passes through a Python worker, and this
script only plans. On the same input and options it drops the same documents and
strips the same lines as `dupstrip clean` on one machine.

    spark-submit --master local[4] --files target/release/dupstrip \\
        integrations/spark/dupstrip_spark.py samples/news.jsonl \\
        -o out/clean --clusters out/clusters --save-rules out/rules.json

Options after `--` are `dupstrip clean` options (similarity, boilerplate, input):

    ... dupstrip_spark.py in/ -o out/clean -- --min-docs 3 --text-field content

The binary: shipped to every executor with `--files PATH/dupstrip`, or installed at
the same path on every node (`--dupstrip /opt/dupstrip/bin/dupstrip`). The driver runs
it too: `--dupstrip PATH` (default: `dupstrip` on PATH, else the shipped copy).

Output: a directory of JSON Lines part files, in input order (concatenated, they are
the file `clean -o` writes), or Parquet when the path ends in `.parquet` (every
column kept, with its type). Clusters: a directory of JSON Lines, one cluster per
line, as `clean --clusters` writes them.
"""

import argparse
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

from pyspark import SparkFiles, StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

# Formats of the stage rows this driver speaks (`dupstrip stage`, docs/spark-and-stages.md).
SCHEMA_VERSION = 1
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TEXT_SUFFIXES = (".txt", ".text", ".md")
COMPRESSED = (".gz", ".zst")
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Hadoop splits input paths at commas and expands glob characters.
UNSAFE_PATH_CHARS = set(",{}[]*?\\")
# A row is the input's index shifted left by LINE_BITS, plus the line in that input
# (stage::rows::LINE_BITS).
LINE_BITS = 40
# Key kinds of "marker followed by this tail" counts (boilerplate::TAIL_KINDS): kept
# from two stories on, whatever --min-docs asks (boilerplate::floor).
TAIL_KINDS = (8, 12)
# How TRANSFORM pipes rows to the binary and reads its rows back.
ROW_FORMAT = ("ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\u0001' "
              "LINES TERMINATED BY '\\n' NULL DEFINED AS '\\\\N'")
# What a sketch stage writes: the kind of row (b: band keys, s: signature, k: line
# keys, e: emptied, n: records read); keys go packed in one field, space-separated.
SKETCH_SCHEMA = "t STRING, row BIGINT, a BIGINT, b BIGINT, c STRING"
# A side of a join with at most this many rows is broadcast: a few tens of MB.
BROADCAST_ROWS = 2_000_000
# Rounds of the component search between checkpoints of the edges.
CHECKPOINT_EVERY = 2
# The rules' examples are searched in this share of the input's parts (1/N, at least
# one), in row order, before the dedup sketch; it finds the rest.
EXAMPLES_FIRST_SHARE = 8
# Up to this many edges, components are found in one task by `stage components`
# (about 42 bytes an edge in the binary's memory, outside the executor's heap).
COMPONENTS_TASK_EDGES = 5_000_000
# Up to this many records, the band buckets are found and confirmed in one task by
# `stage candidates` (about 2 bytes a permutation and 100 more a signature in the
# binary's memory).
CANDIDATES_TASK_DOCS = 1_000_000
# What the one-task stages hold, as measured: bytes an edge (`components`), and bytes
# a signature holds beyond its 2 bytes a permutation (`candidates`: band keys, rows,
# edges found; 94-96 MiB for the 270,270 story signatures of 1 GB, in row order or
# not, 301 MiB for a million random ones).
EDGE_BYTES = 42
SIGNATURE_EXTRA_BYTES = 100
# What `stage stories` holds: bytes a line key, and bytes a record beyond its
# signature (300 MiB peak for the 270,270 pages and 12.6 million line keys of 1 GB of
# news: 69 MB of signatures, 202 MB of keys, 162 bytes a page besides).
LINE_KEY_BYTES = 16
STORY_RECORD_BYTES = 200
# Spark's floor for an executor's memory overhead, and its share of executor memory.
MIN_OVERHEAD = 384 << 20
OVERHEAD_FACTOR = 0.1


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="dupstrip_spark.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="dupstrip clean on Spark: strip boilerplate, drop near-duplicates.",
        epilog="Options after -- are passed to `dupstrip stage config` (the options of "
        "`dupstrip clean`: --threshold, --ngram, --min-docs, --text-field, ...).\n"
        "usage: dupstrip_spark.py INPUT... -o OUT [options] [-- CLEAN OPTIONS]",
    )
    p.add_argument("inputs", nargs="+", help="files or directories, any path Spark reads "
                   "(JSON Lines, .gz, .zst, Parquet)")
    p.add_argument("-o", "--output", required=True,
                   help="output directory (JSON Lines part files), or a path ending in "
                   ".parquet to write Parquet")
    p.add_argument("--clusters", help="directory to write the clusters to (JSON Lines)")
    p.add_argument("--save-rules", help="local file to write the learned rules to")
    p.add_argument("--rules", help="rules file to apply instead of learning (local path)")
    p.add_argument("--report", help="local file to write a JSON summary to")
    p.add_argument("--dupstrip", default="dupstrip",
                   help="the binary: a name shipped with --files, or a path present on "
                   "every node (default: %(default)s, the copy shipped with --files, "
                   "else on PATH)")
    p.add_argument("--no-cache", action="store_true",
                   help="keep nothing between passes (sketches, decompressed records): "
                   "compute them again where needed (for inputs larger than the "
                   "executors' memory and local disks)")
    p.add_argument("--checkpoint-dir", metavar="DIR",
                   help="a directory every executor reaches (HDFS, S3, a shared disk): "
                   "the edges and components are checkpointed there (`checkpoint()`), so "
                   "that losing an executor does not fail the job; the directory Spark "
                   "makes in it is removed at the end (default: on the executors, "
                   "`localCheckpoint()`, for one machine or a cluster that does not lose "
                   "executors)")
    p.add_argument("--partitions", type=int, default=0,
                   help="partitions of the shuffles (default: Spark's default parallelism)")
    p.add_argument("--examples-first-share", type=int, default=EXAMPLES_FIRST_SHARE,
                   metavar="N",
                   help="search the rules' examples in the first 1/N of the input's parts "
                   "(splits of files, in input order) before the dedup sketch, which "
                   "finds the rest and sketches again in the rare case that they change "
                   "what the rules strip (default: %(default)s; 1: all at once)")
    p.add_argument("--components-task-edges", type=int, metavar="N",
                   help="find connected components in one task (`dupstrip stage "
                   "components`, about 42 bytes an edge in that task's memory) up to N "
                   "edges, and in rounds of Spark SQL joins above (default: "
                   f"{COMPONENTS_TASK_EDGES:,}, or what half the executors' memory "
                   "overhead holds, if less; 0: always in rounds)")
    p.add_argument("--candidates-task-docs", type=int, metavar="N",
                   help="find and confirm near-duplicate candidates in one task (`dupstrip "
                   "stage candidates`, about 2 bytes a permutation and 100 more a record "
                   "in that task's memory) up to N records, and by grouping band keys in "
                   f"Spark SQL above (default: {CANDIDATES_TASK_DOCS:,}, or what half the "
                   "executors' memory overhead holds, if less; 0: always in Spark SQL)")
    clean_options = []
    if "--" in argv:
        i = argv.index("--")
        argv, clean_options = argv[:i], argv[i + 1:]
    a = p.parse_args(argv)
    a.clean_options = clean_options
    return a


def size_bytes(text):
    """A JVM memory size ("512m", "2g"; a bare number is MiB, as Spark reads it) in
    bytes; None when it is not one."""
    m = re.fullmatch(r"\s*(\d+)\s*(b|[kmgtp]b?)?\s*", text.lower())
    if not m:
        return None
    shift = {"b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[(m.group(2) or "m")[0]]
    return int(m.group(1)) << shift


def one_task_budget(sc):
    """Bytes a one-task stage (`candidates`, `components`, `stories`) may hold: half the
    executors' memory overhead, where the binary runs, outside the JVM heap (the rest
    is the JVM's own). None where there is no such limit: a local master, whose stages
    are children of the driver's JVM, unless spark.executor.memoryOverhead is set."""
    conf = sc.getConf()
    overhead = conf.get("spark.executor.memoryOverhead")
    if overhead:
        found = size_bytes(overhead)
    elif sc.master.startswith("local"):
        return None
    else:
        memory = size_bytes(conf.get("spark.executor.memory", "1g")) or (1 << 30)
        factor = float(conf.get("spark.executor.memoryOverheadFactor", str(OVERHEAD_FACTOR)))
        found = max(MIN_OVERHEAD, int(memory * factor))
    return found // 2 if found else None


def task_limits(a, sc, num_perm):
    """The one-task limits: (records for `candidates`, edges for `components`). Those
    not given are the defaults, lowered to what `one_task_budget` holds."""
    docs, edges = CANDIDATES_TASK_DOCS, COMPONENTS_TASK_EDGES
    budget = one_task_budget(sc)
    if budget is not None:
        docs = min(docs, budget // (2 * num_perm + SIGNATURE_EXTRA_BYTES))
        edges = min(edges, budget // EDGE_BYTES)
    return (docs if a.candidates_task_docs is None else a.candidates_task_docs,
            edges if a.components_task_edges is None else a.components_task_edges)


def local_binary(name):
    """The binary as the driver runs it: the path given, else the copy shipped with
    --files (the one the executors run), else `name` on PATH."""
    if os.path.sep in name:
        if os.path.exists(name):
            return os.path.abspath(name)
        sys.exit(f"dupstrip_spark: {name}: no such file (--dupstrip)")
    try:
        shipped = SparkFiles.get(name)
        if os.path.exists(shipped):
            return shipped
    except Exception:
        pass
    found = shutil.which(name)
    if found:
        return found
    sys.exit(f"dupstrip_spark: cannot find the dupstrip binary {name!r} "
             "(ship it with --files, or give --dupstrip PATH)")


def run_local(binary, args, lines, out_path):
    """Run a stage on the driver, feeding it `lines`, writing its output to out_path."""
    with open(out_path, "wb") as out:
        p = subprocess.Popen([binary, "stage"] + args, stdin=subprocess.PIPE, stdout=out)
        try:
            for line in lines:
                p.stdin.write(line.encode("utf-8"))
                p.stdin.write(b"\n")
        except BrokenPipeError:
            pass
        finally:
            p.stdin.close()
            p.wait()
        if p.returncode != 0:
            sys.exit(f"dupstrip_spark: dupstrip stage {args[0]} failed (exit {p.returncode})")


def hadoop_fs(spark, path):
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(conf), p


def base_name(name):
    lower = name.lower()
    for c in COMPRESSED:
        if lower.endswith(c):
            return lower[: -len(c)]
    return lower


def is_input_name(name):
    """The names `clean` reads in a directory (text files included, to refuse them)."""
    return (name.lower().endswith(".parquet")
            or base_name(name).endswith(JSONL_SUFFIXES + TEXT_SUFFIXES))


def sniff(fs, path):
    """The first four bytes of a file."""
    stream = fs.open(path)
    try:
        head = bytearray()
        while len(head) < 4:
            b = stream.read()
            if b < 0:
                break
            head.append(b)
        return bytes(head)
    finally:
        stream.close()


def kind_of(fs, status, shown):
    """How a file is read, told as `clean` tells it: Parquet by name or magic bytes,
    compression by magic bytes (not by name)."""
    name = status.getPath().getName()
    if base_name(name).endswith(TEXT_SUFFIXES):
        sys.exit(f"dupstrip_spark: {shown}: plain-text inputs (one document per file) "
                 "are not supported on Spark; convert them to JSON Lines")
    if name.startswith(("_", ".")):
        sys.exit(f"dupstrip_spark: {shown}: Spark's file sources skip names starting "
                 "with '_' or '.'; rename the file")
    if any(c in UNSAFE_PATH_CHARS for c in status.getPath().toString()):
        sys.exit(f"dupstrip_spark: {shown}: names with commas, backslashes or glob "
                 "characters cannot be passed to Hadoop's readers; rename the file")
    head = sniff(fs, status.getPath()) if status.getLen() > 0 else b""
    if name.lower().endswith(".parquet") or head == b"PAR1":
        return "parquet"
    if head.startswith(GZIP_MAGIC) and name.lower().endswith(".gz"):
        return "text"  # Hadoop's gzip codec, chosen by the name
    if head.startswith(GZIP_MAGIC) or head.startswith(ZSTD_MAGIC):
        return "decompress"
    if name.lower().endswith(COMPRESSED):
        return "decompress"  # not compressed after all: passed through as it is
    return "text"


def list_inputs(spark, inputs):
    """Input files in the order `dupstrip clean` reads them: arguments in order, a
    directory's entries sorted by name, subdirectories where they sort. Each is
    (path, name shown, kind, path as Spark's `_metadata.file_path` may spell it);
    and their sizes."""
    found = []
    sizes = []

    def add(status, shown):
        p = status.getPath()
        found.append((p.toString(), shown, kind_of(fs, status, shown),
                      {p.toString(), p.toUri().toString()}))
        sizes.append(status.getLen())

    def walk(fs, path, shown):
        st = sorted(fs.listStatus(path), key=lambda s: s.getPath().getName())
        for s in st:
            name = s.getPath().getName()
            child = shown.rstrip("/") + "/" + name
            if s.isDirectory():
                walk(fs, s.getPath(), child)
            elif is_input_name(name):
                add(s, child)

    for given in inputs:
        fs, path = hadoop_fs(spark, given)
        if not fs.exists(path):
            sys.exit(f"dupstrip_spark: {given}: no such file or directory")
        status = fs.getFileStatus(path)
        if status.isDirectory():
            walk(fs, path, given)
        else:
            add(status, given)
    if not found:
        sys.exit("dupstrip_spark: no input files (JSON Lines, .gz, .zst or Parquet)")
    if len(found) >= 1 << (63 - LINE_BITS):
        sys.exit(f"dupstrip_spark: {len(found)} input files; at most {1 << (63 - LINE_BITS)}")
    return found, sizes


class Job:
    """The pieces every query of the job shares."""

    def __init__(self, spark, binary, parts, cache, task_edges, task_docs, examples_share):
        self.sizes = []
        self.task_edges = task_edges
        self.task_docs = task_docs
        # What a one-task stage may hold (None: no limit), and the signatures' size.
        self.task_budget = None
        self.num_perm = 0
        # At least the records (blank lines of text inputs included), known before the
        # first sketch; None when counting would cost a pass over the inputs.
        self.records_at_most = None
        # Whether each partition of the scan is one split of a text input, in input
        # order (all inputs text): records are then read in `clean`'s order.
        self.scan_in_order = False
        # Purposes whose sketch left out its band keys: they must go to one task.
        self.keys_left_out = []
        self.examples_share = max(1, examples_share)
        self.spark = spark
        self.binary = binary
        self.parts = parts
        self.cache = cache
        self.views = 0
        # Seconds between the job's actions, by what the action finished: Spark
        # plans lazily, so work is timed where it is forced.
        self.steps = {}
        self.last = time.time()

    def checkpoint(self, df):
        """`df` computed once and cut from its lineage: written under --checkpoint-dir
        (kept first, so that writing it does not compute it again), else kept on the
        executors."""
        if self.spark.sparkContext.getCheckpointDir() is None:
            return df.localCheckpoint()
        kept = df.persist(StorageLevel.MEMORY_AND_DISK)
        done = kept.checkpoint()
        kept.unpersist()
        return done

    def candidates_in_one_task(self, records):
        """Whether `records` records (None: unknown) go to one `stage candidates` task."""
        return records is not None and 0 < self.task_docs and records <= self.task_docs

    def story_task_bytes(self, records, line_keys):
        """Bytes one `stage stories` task holds for a story sketch of `records`
        records and `line_keys` line keys."""
        return records * (2 * self.num_perm + STORY_RECORD_BYTES) + line_keys * LINE_KEY_BYTES

    def stories_in_one_task(self, records, line_keys):
        """Whether a story sketch of `records` records and `line_keys` line keys goes
        to one `stage stories` task: its signatures to one task, and with its line
        keys within the one-task budget."""
        held = self.story_task_bytes(records, line_keys)
        return (self.candidates_in_one_task(records)
                and (self.task_budget is None or held <= self.task_budget))

    def lap(self, step):
        now = time.time()
        self.steps[step] = round(self.steps.get(step, 0) + now - self.last, 3)
        self.last = now

    def transform(self, df, columns, stage_args, schema):
        """Rows of `df` (`columns`, SQL expressions) piped through `dupstrip stage
        STAGE_ARGS --delimited`, read back as `schema`."""
        self.views += 1
        view = f"dupstrip_in_{self.views}"
        df.createOrReplaceTempView(view)
        command = " ".join(shlex.quote(a) for a in
                           [self.binary, "stage"] + stage_args + ["--delimited"])
        sql = (f"SELECT TRANSFORM ({', '.join(columns)}) {ROW_FORMAT} "
               f"USING {sql_string(command)} AS ({schema}) {ROW_FORMAT} FROM {view}")
        return self.spark.sql(sql)

    def keep(self, df):
        return df.persist(StorageLevel.MEMORY_AND_DISK) if self.cache else df


def sql_string(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def local_table(spark, rows, *columns):
    """A small table of driver-side values (strings and integers, `columns` as
    (name, SQL type) pairs) as one JSON literal that Spark SQL parses: planned in the
    JVM, where `createDataFrame` would start a Python worker to unpickle them. (A
    `VALUES` list took 7.2 s to plan at 80,000 rows and 35.8 s at 400,000; the
    literal 2.5 and 8.5 s.)"""
    names = [name for name, _ in columns]
    text = json.dumps([dict(zip(names, r)) for r in rows])
    schema = "array<struct<%s>>" % ", ".join(f"{name}: {kind}" for name, kind in columns)
    return spark.range(1).select(F.inline(F.from_json(F.lit(text), schema)))


def union_all(frames):
    """The rows of every frame (a non-empty list), matched by column name."""
    return functools.reduce(lambda a, b: a.unionByName(b), frames)


def read_records(job, files):
    """(row, part, value) for every record: `row` is the input's index shifted left by
    LINE_BITS plus the record's line (Parquet: row, from 1), so rows sort in `clean`'s
    order; `part` numbers the pieces the inputs are read in (splits of a file, or a
    whole file), in input order, for writing the output in order. Blank lines are left
    out. Returns the records and the number of parts."""
    spark = job.spark
    pieces = []
    text = [(i, f) for i, f in enumerate(files) if f[2] == "text"]
    by_file = {}
    if text:
        # Lines end at "\n" only, as `clean` reads them (Hadoop's default also ends a
        # line at a lone "\r"); one "\r" before it is dropped below.
        lines = (spark.read.option("lineSep", "\n").text([f[0] for _, f in text])
                 .select(F.col("_metadata.file_path").alias("path"),
                         F.col("_metadata.file_block_start").alias("start"),
                         F.monotonically_increasing_id().alias("m"), "value"))
        # Lines per split (one small row each) give each split's first line; the
        # monotonically increasing id numbers a split's lines, in order, from its
        # smallest value, and is the same in every pass over the same files (the
        # split size is pinned at start-up).
        splits = (lines.groupBy("path", "start")
                  .agg(F.count("*").alias("n"), F.min("m").alias("m0")).collect())
        index = {}
        for i, f in text:
            for spelling in f[3]:
                index[spelling] = i
        for s in splits:
            if s.path not in index:
                sys.exit(f"dupstrip_spark: Spark read {s.path}, which is not an input")
            by_file.setdefault(index[s.path], []).append(s)
    # Parts in input order: a text file's splits, or one part per other file.
    base_rows = []
    parts = 0
    # Records at most (blank lines counted), None when a count would cost a pass.
    # Only whether they fit one `stage candidates` task matters: Parquet files (their
    # footers) and kept decompressed records are counted in one job each, and not at
    # all once the text splits alone are over the limit.
    at_most = sum(s.n for found in by_file.values() for s in found)
    if at_most > job.task_docs:
        at_most = None
    parquet_uris, decompressed = [], []
    for i, (uri, shown, kind, _) in enumerate(files):
        if kind == "text":
            if job.sizes[i] > 0 and i not in by_file:
                sys.exit(f"dupstrip_spark: {shown}: Spark read nothing from this input")
            before = 0
            for s in sorted(by_file.get(i, []), key=lambda s: s.start):
                # row = m + base: the split's first line is before + 1.
                base_rows.append((s.path, s.start, (i << LINE_BITS) + before + 1 - s.m0,
                                  parts))
                parts += 1
                before += s.n
        elif kind == "parquet":
            df = spark.read.parquet(uri)
            parquet_uris.append(uri)
            cols = df.columns
            pieces.append(df.select(
                (F.col("_metadata.row_index") + F.lit((i << LINE_BITS) + 1)).alias("row"),
                F.lit(parts).cast("long").alias("part"),
                F.to_json(F.struct(*cols), {"ignoreNullFields": "false"}).alias("value")))
            parts += 1
        else:
            # Hadoop reads zstd only with its native library, and picks codecs by
            # name: the binary decompresses, the file travelling as hex.
            raw = (spark.read.format("binaryFile").load(uri)
                   .select(F.lit(i).alias("i"), F.hex("content").alias("hex")))
            out = job.transform(raw, ["i", "hex"], ["decompress"],
                                "row BIGINT, rec STRING, rec_hex STRING")
            piece = job.keep(out.select(
                "row", F.lit(parts).cast("long").alias("part"),
                F.coalesce("rec", F.unhex("rec_hex").cast("string")).alias("value")))
            decompressed.append(piece)
            pieces.append(piece)
            parts += 1
    if base_rows:
        bases = local_table(spark, base_rows, ("path", "string"), ("start", "bigint"),
                            ("base", "bigint"), ("part", "bigint"))
        # Every line must find its split: a split missing from the counts (the
        # scan planned differently) fails the job rather than losing lines.
        row = F.when(F.col("base").isNull(), F.raise_error(F.lit(
            "dupstrip_spark: a split of the input was not counted"))).otherwise(
            F.col("m") + F.col("base"))
        value = F.when(F.col("value").endswith("\r"),
                       F.expr("substring(value, 1, length(value) - 1)")).otherwise(F.col("value"))
        value = F.when(((row.bitwiseAND((1 << LINE_BITS) - 1)) == 1)
                       & value.startswith("\ufeff"), F.expr("substring(value, 2)")
                       ).otherwise(value)
        pieces.append(lines.join(F.broadcast(bases), ["path", "start"], "left")
                      .select(row.alias("row"), F.col("part"), value.alias("value")))
    if not pieces:
        return None, 0
    if parquet_uris and at_most is not None:
        at_most += spark.read.parquet(*parquet_uris).count()
    if decompressed and at_most is not None and at_most <= job.task_docs:
        # Kept, they are counted by the pass that keeps them, all files at once.
        at_most = at_most + union_all(decompressed).count() if job.cache else None
    job.records_at_most = at_most if at_most is not None and at_most <= job.task_docs else None
    if len(text) == len(files):
        # A split's first id is its partition's index shifted left by 33 bits
        # (monotonically_increasing_id): partitions 0, 1, 2, … in input order, one
        # split each.
        ordered = [s for i, _ in text for s in sorted(by_file.get(i, []), key=lambda s: s.start)]
        # Part files are named part-NNNNN: past 100,000 their names no longer sort in
        # partition order.
        job.scan_in_order = (len(ordered) < 100_000 and
                             [s.m0 >> 33 for s in ordered] == list(range(len(ordered))))
    records = union_all(pieces)
    blank = F.expr(r"trim(BOTH ' \t\r\u000C' FROM value) = ''")
    return records.where(~blank), parts


def sketches(job, records, purpose, extra):
    """The sketch rows of every record (`SKETCH_SCHEMA`)."""
    out = job.transform(records, ["row", "value"],
                        ["sketch", "--config", "job.json", "--names", "names.json",
                         "--for", purpose] + extra, SKETCH_SCHEMA)
    return job.keep(out)


def band_keys(sk):
    """(band, key, row) of every band key of the sketch rows."""
    return (sk.where("t = 'b'")
            .select("row", "a", F.posexplode(F.split("c", " ")))
            .select((F.col("a") + F.col("pos")).alias("band"),
                    F.col("col").cast("long").alias("key"), "row"))


def line_keys(sk, *extra):
    """(row, EXTRA…, kind, hash) of every line key of the sketch rows (pairs of
    values); EXTRA are further columns of `sk` kept with each."""
    return (sk.where("t = 'k'").select("row", *extra, F.split("c", " ").alias("p"))
            .select("row", *extra, F.inline(F.expr(
                "transform(sequence(0, size(p) div 2 - 1), i -> struct("
                "cast(p[2 * i] AS INT) AS kind, cast(p[2 * i + 1] AS BIGINT) AS hash))"))))


def signatures(sk):
    """(row, len, sig) of every record with a signature: the signature as BINARY
    (two bytes a slot), half its hex in the shuffles."""
    return sk.where("t = 's'").select("row", F.col("a").alias("len"),
                                      F.unhex("c").alias("sig"))


def joined(left, right, on, how, right_rows):
    """`left` joined with `right`, broadcast when it is small (`right_rows` rows)."""
    return left.join(F.broadcast(right) if right_rows <= BROADCAST_ROWS else right, on, how)


def buckets_confirmed(job, sk, purpose, documents):
    """Band buckets of two or more members, confirmed as `clean` confirms them: the
    edges (a, b), a < b, each once, checkpointed. Up to `job.task_docs` records, every
    signature goes to one task of `stage candidates`, which bands and confirms them
    itself; above, Spark SQL groups the band keys and `stage confirm` confirms each
    bucket's members."""
    if job.candidates_in_one_task(documents):
        # Kept, the sketch rows are read by one task as they lie; not kept
        # (--no-cache), they are shuffled to it, or the sketch itself would run in
        # that one task. The stage sorts the rows itself.
        signed = sk.where("t = 's'").select("row", "a", "c")
        signed = signed.coalesce(1) if job.cache else signed.repartition(1)
        edges = job.transform(signed, ["row", "a", "c"],
                              ["candidates", "--config", "job.json", "--for", purpose],
                              "a BIGINT, b BIGINT")
        edges = job.checkpoint(edges)
        job.lap(f"{purpose}: candidates in one task")
        return edges, True
    if purpose in job.keys_left_out:
        # The sketch has no band keys to group: finding no bucket would drop nothing.
        raise RuntimeError(f"dupstrip_spark: {documents} records, more than counted before "
                           f"the {purpose} sketch left out its band keys")
    # Kept for the two passes below: unpacking the keys again cost more.
    bands = band_keys(sk).persist(StorageLevel.MEMORY_AND_DISK)
    sigs = signatures(sk)
    # Every band key counted, with its smallest and largest row, in fixed-width
    # aggregates: a bucket of two is those two rows. Only the members of larger
    # buckets are listed.
    shared = (bands.groupBy("band", "key")
              .agg(F.count("*").alias("n"), F.min("row").alias("lo"), F.max("row").alias("hi"))
              .where("n >= 2"))
    shared = shared.persist(StorageLevel.MEMORY_AND_DISK)
    large = shared.where("n > 2").select("band", "key")
    large_rows = large.count()
    job.lap(f"{purpose}: band buckets")
    listed = (joined(bands, large, ["band", "key"], "inner", large_rows)
              .groupBy("band", "key").agg(F.sort_array(F.collect_list("row")).alias("rows"))
              .select("rows"))
    # Buckets with the same members confirm the same edges (copies of one story
    # share most of their bands): each member set is confirmed once, named by two
    # hashes of its sorted rows.
    sets = (shared.where("n = 2").select(F.array("lo", "hi").alias("rows"))
            .unionByName(listed).distinct()
            .select(F.concat_ws(".", F.xxhash64("rows"), F.hash("rows")).alias("set"),
                    F.explode("rows").alias("row")))
    sets = sets.persist(StorageLevel.MEMORY_AND_DISK)
    set_rows = sets.count()
    job.lap(f"{purpose}: bucket member sets")
    members = (joined(sigs, sets, "row", "inner", set_rows)
               .repartition(job.parts, "set").sortWithinPartitions("set", "row"))
    edges = job.transform(members, ["set", "row", "len", "hex(sig)"],
                          ["confirm", "--config", "job.json", "--for", purpose],
                          "a BIGINT, b BIGINT")
    edges = job.checkpoint(edges.distinct())
    job.lap(f"{purpose}: confirmed")
    for df in (bands, shared, sets):
        df.unpersist()
    return edges, False


def components(job, edges, purpose):
    """Connected components of the edges: (row, root) for every row of a component of
    two or more, root (its smallest row) included, the rounds of joins it took (0:
    found in one task) and the number of edges. Up to `job.task_edges` edges, one task
    of `stage components` reads them all; above, alternating large-star and
    small-star rounds (Kiveris et al., 2014) in Spark SQL until the edges stop
    changing."""
    # The edges are checkpointed: counting them reads no record again.
    n = edges.count()
    if 0 < job.task_edges and n <= job.task_edges:
        found = job.checkpoint(job.transform(edges.coalesce(1), ["a", "b"], ["components"],
                                             "row BIGINT, root BIGINT"))
        job.lap(f"{purpose}: components")
        return found, 0, n
    e = edges.select(F.greatest("a", "b").alias("x"), F.least("a", "b").alias("y")).distinct()
    e = job.checkpoint(e)
    last = None
    rounds = 0
    while True:
        rounds += 1
        # Large star: every neighbour above a node links to the node's smallest
        # neighbour (or itself).
        both = e.select(F.col("x").alias("u"), F.col("y").alias("v")).unionByName(
            e.select(F.col("y").alias("u"), F.col("x").alias("v")))
        low = both.groupBy("u").agg(F.min("v").alias("mv"))
        large = (both.join(low, "u").where(F.col("v") > F.col("u"))
                 .select(F.col("v").alias("x"), F.least("mv", "u").alias("y")).distinct())
        # Small star: a node and its neighbours below it link to the smallest of them.
        m = large.groupBy("x").agg(F.min("y").alias("m"))
        small = (large.join(m, "x").where(F.col("y") != F.col("m"))
                 .select(F.col("y").alias("x"), F.col("m").alias("y"))
                 .unionByName(m.select("x", F.col("m").alias("y"))).distinct())
        previous = e
        if rounds % CHECKPOINT_EVERY == 0:
            small = job.checkpoint(small)
        else:
            small = small.persist(StorageLevel.MEMORY_AND_DISK)
        # Unchanged edges: the same count and the same sums of two 32-bit hashes.
        check = tuple(small.agg(
            F.count("*"), F.sum(F.xxhash64("x", "y").bitwiseAND(0xFFFFFFFF)),
            F.sum(F.hash("x", "y").cast("long").bitwiseAND(0xFFFFFFFF))).first())
        previous.unpersist()
        e = small
        if check == last:
            break
        last = check
    job.lap(f"{purpose}: components")
    roots = e.select(F.col("y").alias("x")).distinct().select("x", F.col("x").alias("y"))
    return (e.unionByName(roots).select(F.col("x").alias("row"), F.col("y").alias("root")),
            rounds, n)


def story_counts_in_one_task(job, sk, documents):
    """The stories and line-key counts of a story sketch of `documents` records by one
    task of `stage stories`: (stories, frequent keys (kind, hash, n), frames to
    unpersist, report fields)."""
    rows = sk.where("t IN ('s', 'k', 'n')").select("t", "row", "a", "b", "c")
    # Kept, the sketch rows are read by one task as they lie; not kept, they are
    # shuffled to it (as in `buckets_confirmed`).
    rows = rows.coalesce(1) if job.cache else rows.repartition(1)
    counted = job.transform(rows, ["t", "row", "a", "b", "c"], ["stories", "--config", "job.json"],
                            "t STRING, a BIGINT, b BIGINT, c BIGINT")
    counted = counted.persist(StorageLevel.MEMORY_AND_DISK)
    total = counted.where("t = 'g'").collect()
    if len(total) != 1:
        raise RuntimeError(f"dupstrip_spark: `stage stories` wrote {len(total)} summary rows")
    if total[0].a != documents:
        raise RuntimeError(f"dupstrip_spark: `stage stories` read {total[0].a} records of the "
                           f"{documents} the story sketch counted")
    frequent = counted.where("t = 'c'").select(F.col("a").alias("kind"),
                                                 F.col("b").alias("hash"), F.col("c").alias("n"))
    return total[0].b, frequent, [counted], {"story_candidates_in_one_task": True,
                                             "story_cc_rounds": 0, "story_edges": total[0].c}


def story_counts(job, sk, documents, config):
    """The stories and line-key counts of a story sketch in Spark SQL: (stories,
    frequent keys (kind, hash, n), frames to unpersist, report fields)."""
    edges, one_task = buckets_confirmed(job, sk, "stories", documents)
    story_of, rounds, n_edges = components(job, edges, "stories")
    story_of = job.keep(story_of)
    stats = story_of.agg(F.count("*"), F.sum(F.when(F.col("row") == F.col("root"), 1)
                                              .otherwise(0))).first()
    grouped, groups = stats[0], stats[1] or 0
    job.lap("stories: counted")
    stories = documents - grouped + groups
    floor = max(config["learn"]["min_docs"], 2)
    # A key's stories are its pages alone in their story, plus the stories of
    # several pages it is on. A page's keys are distinct, so the first are its pages
    # less those in stories of several: only those pages' keys are read again, with
    # their story. A key under the floor in pages is under it in stories, and is
    # dropped first.
    def frequent_only(n):
        return (n >= floor) | (F.col("kind").isin(*TAIL_KINDS) & (n >= 2))
    pages = (line_keys(sk).groupBy("kind", "hash").agg(F.count("*").alias("pages"))
             .where(frequent_only(F.col("pages")))).persist(StorageLevel.MEMORY_AND_DISK)
    often = pages.count()
    job.lap("line keys: frequent")
    frequent_keys = pages.select("kind", "hash")
    if grouped <= BROADCAST_ROWS:
        # Only the keys of pages in stories of several are unpacked again.
        in_groups = joined(line_keys(sk.join(F.broadcast(story_of), "row"), "root"),
                           frequent_keys, ["kind", "hash"], "left_semi", often)
    else:
        # Too many such pages to broadcast: joined with them, every page's keys would
        # be shuffled. Every key is unpacked again instead, and only the frequent
        # ones are shuffled to meet their story.
        in_groups = joined(line_keys(sk), frequent_keys, ["kind", "hash"], "left_semi",
                           often).join(story_of, "row")
    in_groups = (in_groups.groupBy("kind", "hash", "root").agg(F.count("*").alias("on"))
                 .groupBy("kind", "hash").agg(F.count("*").alias("groups"),
                                              F.sum("on").alias("grouped")))
    n = F.col("pages") - F.coalesce("grouped", F.lit(0)) + F.coalesce("groups", F.lit(0))
    frequent = (joined(pages, in_groups, ["kind", "hash"], "left", often)
                .select("kind", "hash", n.alias("n")).where(frequent_only(F.col("n"))))
    return stories, frequent, [pages], {"story_candidates_in_one_task": one_task,
                                        "story_cc_rounds": rounds, "story_edges": n_edges}


def learn(job, sk, documents, line_key_count, config, binary, work, records, parts):
    """The rules file, learned as `clean` learns it: its path, a summary, and, when
    the first parts of the input did not give every example the rules keep, the
    examples found so far and the rules' stripping hash (the dedup sketch finds the
    rest; None otherwise). The stories and each line key's count of them come from
    one task of `stage stories` when the story sketch fits it, else from Spark SQL."""
    spark = job.spark
    one_task = job.stories_in_one_task(documents, line_key_count)
    held = job.story_task_bytes(documents, line_key_count)
    if one_task:
        stories, frequent, kept, found = story_counts_in_one_task(job, sk, documents)
        job.lap("stories: counted in one task")
    else:
        if job.candidates_in_one_task(documents):
            # Over the budget only: say which setting would let one task count them.
            print(f"dupstrip_spark: the stories are counted in Spark SQL, which is slower: "
                  f"one `stage stories` task would hold about {held / 2**20:.1f} MiB, over "
                  f"{job.task_budget / 2**20:.1f} MiB (half of spark.executor.memoryOverhead); "
                  f"an overhead of {-(-2 * held // 2**20)} MiB would fit it", file=sys.stderr)
        stories, frequent, kept, found = story_counts(job, sk, documents, config)
    found["story_task_bytes"] = held
    learned = os.path.join(work, "learned.json")
    run_local(binary, ["learn", "--config", os.path.join(work, "job.json"),
                       "--documents", str(documents), "--stories", str(stories)],
              ('{"kind":%d,"hash":"%016x","stories":%d}' % (r[0], r[1] & (2**64 - 1), r[2])
               for r in frequent.toLocalIterator()), learned)
    for df in kept:
        df.unpersist()
    job.lap("stories: keys learned" if one_task else "line keys: stories of each")
    spark.sparkContext.addFile(learned)
    rules_path = os.path.join(work, "rules.json")
    # The rules are searched for examples in the first parts of the input only (in
    # row order), and the dedup sketch, which reads every record anyway, finds the
    # rest. The first example of a rule fixes it; the further ones of templates only
    # complete the rules file. A learned key first met after the first parts is most
    # often a line a template strips anyway (`main` checks that the complete rules
    # strip alike, and sketches again with them when they do not).
    first = max(1, -(-parts // job.examples_share))
    examples = first_examples(job, records.where(F.col("part") < first))
    status = rules_file(binary, work, examples, rules_path)
    job.lap("rules: examples")
    complete = first >= parts or status["all_examples"]
    return rules_path, {"stories": stories, "story_counts_in_one_task": one_task, **found,
                        "examples_parts_read": min(first, parts),
                        "keys_without_example_in_first_parts":
                            status["without_first_example"]}, \
        (None if complete else (examples, status["stripping"]))


def rules_file(binary, work, examples, path):
    """Write the rules file of these examples ((kind, hash, row, pos, line as a JSON
    string) tuples, any order) to `path`; what `stage rules --status` says of them."""
    status_path = os.path.join(work, "rules-status.json")
    run_local(binary, ["rules", "--config", os.path.join(work, "job.json"),
                       "--learned", os.path.join(work, "learned.json"),
                       "--status", status_path],
              ('{"kind":%d,"hash":"%s","row":%d,"pos":%d,"line":%s}' % r for r in examples),
              path)
    with open(status_path) as f:
        return json.load(f)


def first_examples(job, records):
    """The first three distinct lines of each learned key in `records`, by `stage
    examples`."""
    found = job.transform(records, ["row", "value"],
                          ["examples", "--config", "job.json", "--names", "names.json",
                           "--learned", "learned.json"],
                          "kind INT, hash STRING, row BIGINT, pos INT, line STRING")
    return top_examples(found)


def top_examples(found):
    """Of example rows (kind, hash, row, pos, line), the first three distinct lines of
    each key in (row, pos) order, as tuples on the driver."""
    first = (found.groupBy("kind", "hash", "line")
             .agg(F.min(F.struct("row", "pos")).alias("at")))
    top = (first.withColumn("n", F.row_number().over(
        Window.partitionBy("kind", "hash").orderBy("at")))
        .where("n <= 3").select("kind", "hash", "at.row", "at.pos", "line"))
    return [tuple(r) for r in top.toLocalIterator()]


def sketch_examples(sk):
    """The example rows (`x`) of a dedup sketch run with --learned."""
    return sk.where("t = 'x'").select(
        F.col("b").cast("int").alias("kind"), F.substring_index("c", " ", 1).alias("hash"),
        "row", F.col("a").cast("int").alias("pos"), F.expr("substr(c, 18)").alias("line"))


def ordered_keys(spark, n):
    """For each output partition p < n, a value that Spark's hash partitioning into n
    partitions sends to p: records are sent to their part's partition directly,
    with no sampling pass of a range partitioning."""
    found = (spark.range(0, 64 * n + 64)
             .select("id", F.expr(f"pmod(hash(id), {n})").alias("p"))
             .groupBy("p").agg(F.min("id").alias("id")).collect())
    keys = {r.p: r.id for r in found}
    if len(keys) < n:
        sys.exit("dupstrip_spark: cannot place the output partitions")
    return [keys[p] for p in range(n)]


def write_clusters(spark, clusters, path):
    """Clusters in kept-row order, numbered from 0, as `clean --clusters` writes them."""
    c = clusters.orderBy("row").persist(StorageLevel.MEMORY_AND_DISK)
    c = c.select("row", "body", F.monotonically_increasing_id().alias("m"))
    c = c.persist(StorageLevel.MEMORY_AND_DISK)
    part = F.expr("shiftright(m, 33)")
    per_part = c.groupBy(part.alias("p")).agg(
        F.count("*").alias("n")).collect()
    offsets = {}
    total = 0
    for r in sorted(per_part, key=lambda r: r.p):
        offsets[r.p] = total
        total += r.n
    off = F.create_map(*[x for p, o in sorted(offsets.items()) for x in (F.lit(p), F.lit(o))]) \
        if offsets else F.create_map(F.lit(0), F.lit(0))
    n = off[part] + F.col("m").bitwiseAND(2**33 - 1)
    (c.select(F.concat(F.lit('{"cluster":'), n.cast("string"), F.lit(","), F.col("body"),
                       F.lit("}")).alias("value"))
     .write.text(path))
    return total


def records_read(sk):
    """Records a sketch pass read and their line keys (each process counts its own)."""
    found = sk.where("t = 'n'").agg(F.sum("a"), F.sum("b")).first()
    return found[0] or 0, found[1] or 0


def write_parquet(spark, cleaned, files, path):
    """The cleaned records as Parquet: with the inputs' schema when they are all
    Parquet, else the one Spark's JSON reader infers; parsed in the JVM."""
    schema = None
    if all(kind == "parquet" for _, _, kind, _ in files):
        schema = spark.read.parquet(files[0][0]).schema
    strings = getattr(cleaned._jdf, "as")(spark._jvm.org.apache.spark.sql.Encoders.STRING())
    reader = spark.read.schema(schema) if schema is not None else spark.read
    DataFrame(reader._jreader.json(strings), spark).write.parquet(path)


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    spark = SparkSession.builder.appName("dupstrip clean").getOrCreate()
    sc = spark.sparkContext
    # Twice the cores: a slow task leaves less of the machine idle.
    parts = a.partitions or 2 * sc.defaultParallelism
    if a.partitions or not sc.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark SQL's shuffles as many partitions as the others (not its fixed 200).
        spark.conf.set("spark.sql.shuffle.partitions", str(parts))
    if not sc.getConf().contains("spark.sql.files.minPartitionNum"):
        # The split size follows the cores: pinned, every pass over the inputs plans
        # the same splits, which the row numbers rely on.
        spark.conf.set("spark.sql.files.minPartitionNum", str(sc.defaultParallelism))
    if a.checkpoint_dir:
        sc.setCheckpointDir(a.checkpoint_dir)
    binary = local_binary(a.dupstrip)
    exe = a.dupstrip if os.path.sep in a.dupstrip else os.path.basename(a.dupstrip)
    job = Job(spark, exe, parts, not a.no_cache, COMPONENTS_TASK_EDGES,
              CANDIDATES_TASK_DOCS, a.examples_first_share)
    work = tempfile.mkdtemp(prefix="dupstrip-spark-")
    timings = {}
    try:
        job_path = os.path.join(work, "job.json")
        r = subprocess.run([binary, "stage", "config", "-o", job_path] + a.clean_options)
        if r.returncode != 0:
            sys.exit("dupstrip_spark: the clean options were refused (see above)")
        with open(job_path) as f:
            config = json.load(f)
        if config.get("schema_version") != SCHEMA_VERSION:
            sys.exit(f"dupstrip_spark: {binary} writes stage schema "
                     f"{config.get('schema_version')}; this driver speaks {SCHEMA_VERSION}")
        sc.addFile(job_path)
        job.task_docs, job.task_edges = task_limits(a, sc, config["num_perm"])
        job.task_budget, job.num_perm = one_task_budget(sc), config["num_perm"]

        for target in (a.output, a.clusters):
            if target:
                fs, path = hadoop_fs(spark, target)
                if fs.exists(path):
                    sys.exit(f"dupstrip_spark: {target} exists; remove it or choose "
                             "another output")
        for local in (a.save_rules, a.report):
            if local and os.path.dirname(local):
                os.makedirs(os.path.dirname(local), exist_ok=True)
        files, job.sizes = list_inputs(spark, a.inputs)
        names_path = os.path.join(work, "names.json")
        with open(names_path, "w") as f:
            json.dump([shown for _, shown, _, _ in files], f, ensure_ascii=False)
        sc.addFile(names_path)
        records, out_parts = read_records(job, files)
        if records is None:
            sys.exit("dupstrip_spark: the inputs hold no records")
        timings["read"] = round(time.time() - t0, 3)
        job.lap("read: inputs listed, splits counted")

        summary = {"inputs": len(files), "input_parts": out_parts,
                   "candidates_task_docs": job.task_docs,
                   "components_task_edges": job.task_edges,
                   "checkpoint_dir": a.checkpoint_dir,
                   "records_at_most": job.records_at_most,
                   "band_keys_left_out": job.keys_left_out}
        # 1. Boilerplate rules: learned (stories, counts, examples) or given.
        more_examples = None
        if a.rules:
            rules_path = os.path.join(work, "rules.json")
            shutil.copyfile(a.rules, rules_path)
        else:
            t = time.time()
            # Band keys are left out of sketches that go to one `stage candidates`
            # task (which bands the signatures itself): they were 43% of its bytes.
            no_keys = ["--no-band-keys"] if job.candidates_in_one_task(
                job.records_at_most) else []
            job.keys_left_out += ["stories"] if no_keys else []
            story_sk = sketches(job, records, "stories", no_keys)
            documents, line_key_count = records_read(story_sk)
            summary["story_line_keys"] = line_key_count
            job.lap("stories: sketched")
            rules_path, learned, more_examples = learn(
                job, story_sk, documents, line_key_count, config, binary, work, records,
                out_parts)
            story_sk.unpersist()
            summary.update(learned)
            timings["learn"] = round(time.time() - t, 3)
        sc.addFile(rules_path)

        # 2. Near-duplicates of the stripped texts; the rest of the rules' examples,
        # when learning left some to find, in the same read.
        t = time.time()
        strip_with = "rules.json"
        extra = ["--rules", strip_with]
        if more_examples is not None:
            extra += ["--learned", "learned.json"]
        no_keys = ["--no-band-keys"] if job.candidates_in_one_task(
            job.records_at_most if a.rules else documents) else []
        job.keys_left_out += ["dedup"] if no_keys else []
        sk = sketches(job, records, "dedup", extra + no_keys)
        if a.rules:
            documents = records_read(sk)[0]
        summary["documents"] = documents
        emptied = sk.where("t = 'e'").count()
        job.lap("dedup: sketched")
        saved_rules = rules_path
        if more_examples is not None:
            found, stripping = more_examples
            saved_rules = os.path.join(work, "rules-complete.json")
            status = rules_file(binary, work, found + top_examples(sketch_examples(sk)),
                                saved_rules)
            job.lap("rules: further examples")
            summary["rules_changed_by_later_examples"] = status["stripping"] != stripping
            if status["stripping"] != stripping:
                # A key first met after the first parts made a rule of its own: the
                # texts are sketched again, stripped with the complete rules.
                sk.unpersist()
                strip_with = os.path.basename(saved_rules)
                sc.addFile(saved_rules)
                sk = sketches(job, records, "dedup", ["--rules", strip_with] + no_keys)
                emptied = sk.where("t = 'e'").count()
                job.lap("dedup: sketched again")
        if a.save_rules:
            shutil.copyfile(saved_rules, a.save_rules)
        with open(saved_rules) as f:
            rules = json.load(f)
        summary["rules"] = {"lines": len(rules.get("lines", [])),
                            "templates": len(rules.get("templates", [])),
                            "markers": len(rules.get("markers", []))}
        edges, one_task = buckets_confirmed(job, sk, "dedup", documents)
        summary["dedup_candidates_in_one_task"] = one_task
        comp, rounds, n_edges = components(job, edges, "dedup")
        sigs = signatures(sk)
        comp = comp.persist(StorageLevel.MEMORY_AND_DISK)
        in_components = comp.count()
        job.lap("dedup: component members")
        members = (joined(records.select("row", "value"), joined(sigs, comp, "row", "inner",
                                                                  in_components),
                          "row", "inner", in_components)
                   .repartition(parts, "root").sortWithinPartitions("root", "row"))
        assigned = job.transform(members, ["root", "row", "len", "hex(sig)", "value"],
                                 ["assign", "--config", "job.json", "--names", "names.json",
                                  "--rules", strip_with],
                                 "t STRING, row BIGINT, body STRING")
        assigned = assigned.persist(StorageLevel.MEMORY_AND_DISK)
        counted = assigned.groupBy("t").count().collect()
        job.lap("dedup: assigned")
        counts = {r["t"]: r["count"] for r in counted}
        summary["duplicates"] = counts.get("d", 0)
        summary["clusters"] = counts.get("c", 0)
        summary["dedup_cc_rounds"] = rounds
        summary["dedup_edges"] = n_edges
        dups = assigned.where("t = 'd'").select("row")
        timings["dedup"] = round(time.time() - t, 3)

        # 3. Output: kept records, stripped, in row order: where the scan reads them
        # in order, as they are read; else consecutive parts of the input (splits of
        # files) to each output partition, sorted there.
        t = time.time()
        # Parquet output from text infers its schema in a pass of its own, which reads
        # the shuffled records again rather than the inputs and `apply`.
        summary["output_shuffled"] = not (job.scan_in_order
                                          and summary["duplicates"] <= BROADCAST_ROWS
                                          and not a.output.lower().endswith(".parquet"))
        if summary["output_shuffled"]:
            outputs = min(out_parts, parts)
            keys = ordered_keys(spark, outputs)
            # BIGINT, as ordered_keys hashed them.
            place = F.element_at(F.array(*[F.lit(k).cast("long") for k in keys]),
                                 (F.col("part") * outputs / out_parts).cast("int") + 1)
            kept = (joined(records, dups, "row", "left_anti", summary["duplicates"])
                    .repartition(outputs, place).sortWithinPartitions("row"))
        else:
            # The scan reads records in input order, one split per partition: written
            # where they are read (a broadcast anti-join keeps their order), one part
            # file per split, with no shuffle of the records.
            kept = records.join(F.broadcast(dups), "row", "left_anti")
        cleaned = job.transform(kept, ["row", "value"],
                                ["apply", "--config", "job.json", "--names", "names.json",
                                 "--rules", strip_with],
                                "rec STRING, rec_hex STRING")
        cleaned = cleaned.select(
            F.coalesce("rec", F.unhex("rec_hex").cast("string")).alias("value"))
        if a.output.lower().endswith(".parquet"):
            write_parquet(spark, cleaned, files, a.output)
        else:
            cleaned.write.text(a.output)
        job.lap("write: output")
        # Emptied records have no signature, so none is a duplicate.
        summary["emptied_dropped"] = emptied if config["on_empty"] == "drop" else 0
        summary["written"] = documents - summary["duplicates"] - summary["emptied_dropped"]
        if a.clusters:
            write_clusters(spark, assigned.where("t = 'c'").select("row", "body"), a.clusters)
            job.lap("write: clusters")
        timings["write"] = round(time.time() - t, 3)
        timings["total"] = round(time.time() - t0, 3)
        summary["timings"] = timings
        summary["steps"] = job.steps
        if a.report:
            with open(a.report, "w") as f:
                json.dump(summary, f, indent=2)
                f.write("\n")
        print("dupstrip_spark: %d documents read, %d written, %d duplicates dropped "
              "(%d clusters), %d emptied by stripping dropped; %d line, %d template, "
              "%d marker rules; %.1f s"
              % (documents, summary["written"], summary["duplicates"], summary["clusters"],
                 summary["emptied_dropped"], summary["rules"]["lines"],
                 summary["rules"]["templates"], summary["rules"]["markers"],
                 timings["total"]), file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        checkpoints = sc.getCheckpointDir()
        if checkpoints:
            try:
                fs, path = hadoop_fs(spark, checkpoints)
                fs.delete(path, True)
            except Exception as e:  # the job's own outcome matters more
                print(f"dupstrip_spark: could not remove {checkpoints}: {e}", file=sys.stderr)
        spark.stop()


def stage_failure(e):
    """The binary's own error lines in a failed Spark job's message (a stage exits
    non-zero and Spark fails the task with the end of its standard error)."""
    lines = []
    for line in str(e).splitlines():
        i = line.find("dupstrip: error: ")
        if i >= 0 and line[i:] not in lines:
            lines.append(line[i:].strip())
    return lines


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as e:
        found = stage_failure(e)
        if found:
            sys.exit("dupstrip_spark: a dupstrip stage failed:\n  " + "\n  ".join(found))
        text = str(e)
        if "Subprocess exited with status" in text or "Stream closed" in text:
            # Spark logs the process's standard error from another thread, and the
            # task's error may only say that its input stream closed.
            traceback.print_exc()
            sys.exit("dupstrip_spark: a dupstrip stage failed; its reason is the line "
                     "'dupstrip: error: FILE:LINE: ...' in the executor log (with "
                     "--master local, above)")
        raise
