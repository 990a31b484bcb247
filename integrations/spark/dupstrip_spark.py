"""dupstrip clean on Apache Spark.

Runs the same job as `dupstrip clean` (learn boilerplate, strip it, drop near-duplicates
of the stripped texts) with Spark doing the grouping and the dupstrip binary doing
every per-record decision through its stage commands (`dupstrip stage --help`). On the
same input and options it drops the same documents and strips the same lines as
`dupstrip clean` on one machine.

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
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from pyspark import SparkFiles, StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

# Formats of the stage lines this driver speaks (`dupstrip stage`, docs/spark-and-stages.md).
SCHEMA_VERSION = 1
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TEXT_SUFFIXES = (".txt", ".text", ".md")
COMPRESSED = (".gz", ".zst")
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Hadoop splits input paths at commas and expands glob characters.
UNSAFE_PATH_CHARS = set(",{}[]*?\\")


# Key kinds of "marker followed by this tail" counts (boilerplate::TAIL_KINDS): kept
# from two stories on, whatever --min-docs asks (boilerplate::floor).
TAIL_KINDS = (8, 12)

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
                   help="do not keep the input records between passes: read the input "
                   "again for each pass (about seven; for inputs larger than the "
                   "executors' memory and local disks)")
    p.add_argument("--partitions", type=int, default=0,
                   help="partitions of the shuffles (default: Spark's default parallelism)")
    clean_options = []
    if "--" in argv:
        i = argv.index("--")
        argv, clean_options = argv[:i], argv[i + 1:]
    a = p.parse_args(argv)
    a.clean_options = clean_options
    return a


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


def executor_binary(name):
    """The binary as an executor runs it: shipped with --files, or a shared path."""
    base = os.path.basename(name)
    shipped = SparkFiles.get(base)
    if os.path.exists(shipped):
        if not os.access(shipped, os.X_OK):
            os.chmod(shipped, 0o755)
        return shipped
    return name


def write_lines(p, lines):
    """Feed `lines` to process `p`, one per line, then close its input. A process that
    stopped reading (it failed) is not an error here; its exit code tells. If `lines`
    fails, the process is killed and the error raised."""
    try:
        for line in lines:
            p.stdin.write(line.encode("utf-8"))
            p.stdin.write(b"\n")
    except BrokenPipeError:
        pass
    except BaseException:
        p.kill()
        raise
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass


def stage(binary, args, files=()):
    """A mapPartitions function that pipes a partition through `dupstrip stage ARGS`.
    `files` are names added with SparkContext.addFile; `@name` in ARGS becomes its
    local path on the executor."""

    def run(lines):
        exe = executor_binary(binary)
        paths = {f: SparkFiles.get(f) for f in files}
        cmd = [exe, "stage"] + [paths.get(a[1:], a) if a.startswith("@") else a
                                for a in args]
        with tempfile.TemporaryFile() as err:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=err)
            failure = []

            def feed():
                try:
                    write_lines(p, lines)
                except Exception as e:  # the upstream iterator failed
                    failure.append(e)

            t = threading.Thread(target=feed, daemon=True)
            t.start()
            try:
                for out in p.stdout:
                    yield out.decode("utf-8").rstrip("\n")
                t.join()
                code = p.wait()
            finally:
                # Also when the consumer stops early or fails: no process is left.
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()
            if failure:
                raise failure[0]
            if code != 0:
                err.seek(0)
                msg = err.read().decode("utf-8", "replace").strip()
                raise RuntimeError(f"dupstrip stage {args[0]} failed (exit {code}): {msg}")

    return run


def run_local(binary, args, lines, out_path):
    """Run a stage on the driver, feeding it `lines`, writing its output to out_path."""
    with open(out_path, "wb") as out:
        p = subprocess.Popen([binary, "stage"] + args, stdin=subprocess.PIPE, stdout=out)
        try:
            write_lines(p, lines)
        finally:
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
    directory's entries sorted by name, subdirectories where they sort."""
    found = []

    def walk(fs, path, shown):
        st = sorted(fs.listStatus(path), key=lambda s: s.getPath().getName())
        for s in st:
            name = s.getPath().getName()
            child = shown.rstrip("/") + "/" + name
            if s.isDirectory():
                walk(fs, s.getPath(), child)
            elif is_input_name(name):
                found.append((s.getPath().toString(), child, kind_of(fs, s, child)))

    for given in inputs:
        fs, path = hadoop_fs(spark, given)
        if not fs.exists(path):
            sys.exit(f"dupstrip_spark: {given}: no such file or directory")
        status = fs.getFileStatus(path)
        if status.isDirectory():
            walk(fs, path, given)
        else:
            found.append((status.getPath().toString(), given, kind_of(fs, status, given)))
    if not found:
        sys.exit("dupstrip_spark: no input files (JSON Lines, .gz, .zst or Parquet)")
    return found


def decompressed_lines(binary):
    """(line, number) of a whole compressed file, decompressed by `dupstrip stage
    decompress`; blank lines left out."""

    def run(path_bytes):
        exe = executor_binary(binary)
        p = subprocess.run([exe, "stage", "decompress"], input=path_bytes[1],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError(f"{path_bytes[0]}: dupstrip stage decompress failed: "
                               + p.stderr.decode("utf-8", "replace").strip())
        data = p.stdout
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        for i, line in enumerate(data.split(b"\n")):
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.strip(b" \t\n\r\x0c"):
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise RuntimeError(f"{path_bytes[0]}:{i + 1}: invalid UTF-8 at byte "
                                       f"{e.start}") from None
                yield text, i + 1

    return run


def read_records(spark, files, binary):
    """(row, envelope) for every record: rows count records across files in order,
    as `clean` numbers its documents; `at` is FILE:LINE (FILE:ROW for Parquet)."""
    sc = spark.sparkContext
    parts = []
    from pyspark.sql.functions import col, struct, to_json
    for uri, shown, kind in files:
        at = json.dumps(shown, ensure_ascii=False)[1:-1]
        if kind == "parquet":
            df = spark.read.parquet(uri)
            cols = df.columns
            df = df.select(col("_metadata.row_index").alias("__dupstrip_row_index"),
                           to_json(struct(*cols), {"ignoreNullFields": "false"}).alias("j"))
            rdd = (df.rdd.map(lambda r: (r[0], r[1])).sortByKey()
                   .map(lambda kv: (kv[1], kv[0] + 1)))
        elif kind == "decompress":
            # Hadoop reads zstd only with its native library, and picks codecs by
            # name: the binary decompresses.
            rdd = sc.binaryFiles(uri).flatMap(decompressed_lines(binary))
        else:
            rdd = (sc.textFile(uri).zipWithIndex()
                   .map(lambda li: (li[0], li[1] + 1))
                   .filter(lambda li: li[0].strip(" \t\n\r\x0c") != ""))
        parts.append(rdd.map(lambda li, at=at: (at, li[1], li[0])))
    union = sc.union(parts) if len(parts) > 1 else parts[0]
    # The record travels as its line in a JSON string, so the binary sees exactly the
    # bytes `clean` reads (surrounding spaces included) and judges the JSON itself.
    return union.zipWithIndex().map(
        lambda rec: (rec[1], '{"row":%d,"at":"%s:%d","record":%s}'
                     % (rec[1], rec[0][0], rec[0][1],
                        json.dumps(rec[0][2], ensure_ascii=False))))


def candidate_edges(spark, sketches, binary, purpose, parts):
    """Band buckets of two or more members, confirmed by `stage confirm`: the edges
    (a, b), a < b."""
    # The band keys (tens per record) are grouped by Spark SQL: with PySpark's
    # groupByKey they took 19 of the 25 s of a story pass over 150 MB on local[2].
    bands = spark.createDataFrame(
        sketches.filter(lambda d: d["sig"] is not None).map(lambda d: (d["row"], d["bands"])),
        "row long, bands array<string>")
    # Buckets with the same members confirm the same edges (copies of one story
    # share most of their bands): each member set is confirmed once, named by a hash
    # of its members (stable when a partition is computed again).
    sets = (bands.select("row", F.posexplode("bands").alias("band", "key"))
            .groupBy("band", "key").agg(F.sort_array(F.collect_list("row")).alias("rows"))
            .where(F.size("rows") >= 2).select("rows").distinct())

    def member_set(r):
        rows = r[0]
        return hashlib.blake2b(",".join(map(str, rows)).encode(), digest_size=16).digest(), rows

    membership = sets.rdd.map(member_set).flatMap(lambda kv: [(r, kv[0]) for r in kv[1]])
    slim = sketches.filter(lambda d: d["sig"] is not None).map(
        lambda d: (d["row"], json.dumps({"row": d["row"], "sig": d["sig"], "len": d["len"]})))
    lines = (membership.join(slim, parts).map(lambda x: (x[1][0], x[1][1]))
             .groupByKey(parts)
             .map(lambda kv: '{"members":[' + ",".join(kv[1]) + "]}"))
    edges = lines.mapPartitions(
        stage(binary, ["confirm", "--config", "@job.json", "--for", purpose], ["job.json"]))
    return edges.map(json.loads).map(lambda e: (e["a"], e["b"])).distinct(parts)


def contract(pairs):
    """Union-find over one partition's edges: (member, smallest member) of each local
    component. The components are those of the edges given, so the global ones are
    unchanged, and the star rounds start from stars instead of the raw edges."""
    parent = {}

    def find(x):
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent.get(x, x)
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [(x, find(x)) for x in list(parent)]


def components(edges, parts):
    """Connected components by alternating large-star and small-star (Kiveris et al.,
    2014) until the edge set stops changing: (member, smallest member) for every member
    of a component, the smallest included. Nothing is collected to the driver. Each
    partition's edges are first contracted to stars by union-find, which saved a round
    (five to four) on the 150 MB benchmark's story graph."""

    def large_star(kv):
        u, ns = kv
        ns = set(ns)
        m = min(min(ns), u)
        return [(v, m) for v in ns if v > u]

    def small_star(kv):
        u, ns = kv
        ns = set(ns)
        ns.add(u)
        m = min(ns)
        return [(v, m) for v in ns if v != m]

    e = edges.mapPartitions(contract).distinct(parts)
    e.persist(StorageLevel.MEMORY_AND_DISK)
    rounds = 0
    while True:
        rounds += 1
        both = e.flatMap(lambda uv: [(uv[0], uv[1]), (uv[1], uv[0])])
        large = both.groupByKey(parts).flatMap(large_star)
        small = (large.map(lambda uv: (max(uv), min(uv))).groupByKey(parts)
                 .flatMap(small_star).distinct(parts))
        small.persist(StorageLevel.MEMORY_AND_DISK)
        changed = not (small.subtract(e, parts).isEmpty() and e.subtract(small, parts).isEmpty())
        e.unpersist()
        e = small
        if not changed:
            break
    roots = e.values().distinct(parts).map(lambda r: (r, r))
    return e.union(roots), rounds


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    spark = SparkSession.builder.appName("dupstrip clean").getOrCreate()
    sc = spark.sparkContext
    parts = a.partitions or sc.defaultParallelism
    if a.partitions or not sc.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark SQL's shuffles as many partitions as the others (not its fixed 200).
        spark.conf.set("spark.sql.shuffle.partitions", str(parts))
    binary = local_binary(a.dupstrip)
    work = tempfile.mkdtemp(prefix="dupstrip-spark-")
    timings = {}
    try:
        job = os.path.join(work, "job.json")
        r = subprocess.run([binary, "stage", "config", "-o", job] + a.clean_options)
        if r.returncode != 0:
            sys.exit("dupstrip_spark: the clean options were refused (see above)")
        with open(job) as f:
            config = json.load(f)
        if config.get("schema_version") != SCHEMA_VERSION:
            sys.exit(f"dupstrip_spark: {binary} writes stage schema "
                     f"{config.get('schema_version')}; this driver speaks {SCHEMA_VERSION}")
        sc.addFile(job)

        for target in (a.output, a.clusters):
            if target:
                fs, path = hadoop_fs(spark, target)
                if fs.exists(path):
                    sys.exit(f"dupstrip_spark: {target} exists; remove it or choose "
                             "another output")
        for local in (a.save_rules, a.report):
            if local and os.path.dirname(local):
                os.makedirs(os.path.dirname(local), exist_ok=True)
        files = list_inputs(spark, a.inputs)
        records = read_records(spark, files, binary)
        if not a.no_cache:
            records.persist(StorageLevel.MEMORY_AND_DISK)
        documents = records.count()
        envelopes = records.values()
        timings["read"] = round(time.time() - t0, 3)

        summary = {"documents": documents, "inputs": len(files)}
        # 1. Boilerplate rules: learned (stories, counts, examples) or given.
        rules_path = os.path.join(work, "rules.json")
        if a.rules:
            shutil.copyfile(a.rules, rules_path)
        else:
            t = time.time()
            story_sk = envelopes.mapPartitions(stage(
                binary, ["sketch", "--config", "@job.json", "--for", "stories"], ["job.json"]
            )).map(json.loads).persist(StorageLevel.MEMORY_AND_DISK)
            story_edges = candidate_edges(spark, story_sk, binary, "stories", parts)
            story_of, rounds = components(story_edges, parts)
            story_of.persist(StorageLevel.MEMORY_AND_DISK)
            grouped = story_of.count()
            groups = story_of.filter(lambda rs: rs[0] == rs[1]).count()
            stories = documents - grouped + groups
            # (line key, story) pairs counted per key by Spark SQL (tens per record).
            keys = spark.createDataFrame(
                story_sk.map(lambda d: (d["row"], ["%d:%s" % (k, h) for k, h in d["keys"]])),
                "row long, keys array<string>")
            story_df = spark.createDataFrame(story_of, "row long, root long")
            floor = max(config["learn"]["min_docs"], 2)
            frequent = (keys.select("row", F.explode("keys").alias("key"))
                        .join(story_df, "row", "left")
                        .select("key", F.coalesce("root", "row").alias("story")).distinct()
                        .groupBy("key").agg(F.count("*").alias("n"))
                        .where((F.col("n") >= floor)
                               | (F.split("key", ":")[0].cast("int").isin(*TAIL_KINDS)
                                  & (F.col("n") >= 2))))

            def count_line(r):
                kind, h = r["key"].split(":")
                return json.dumps({"kind": int(kind), "hash": h, "stories": r["n"]})

            learned = os.path.join(work, "learned.json")
            run_local(binary, ["learn", "--config", job, "--documents", str(documents),
                               "--stories", str(stories)],
                      (count_line(r) for r in frequent.toLocalIterator()), learned)
            sc.addFile(learned)
            found = envelopes.mapPartitions(stage(
                binary, ["examples", "--config", "@job.json", "--learned", "@learned.json"],
                ["job.json", "learned.json"])).map(json.loads)
            # The first three distinct lines of each key, in row order.
            first = found.map(lambda e: ((e["kind"], e["hash"], e["line"]),
                                         (e["row"], e["pos"]))).reduceByKey(min, parts)
            top = (first.map(lambda kv: ((kv[0][0], kv[0][1]), [(kv[1], kv[0][2])]))
                   .reduceByKey(lambda x, y: sorted(x + y)[:3], parts))
            run_local(binary, ["rules", "--config", job, "--learned", learned],
                      (json.dumps({"kind": k, "hash": h, "row": rp[0], "pos": rp[1],
                                   "line": line}, ensure_ascii=False)
                       for (k, h), lst in top.toLocalIterator() for rp, line in lst),
                      rules_path)
            story_sk.unpersist()
            story_of.unpersist()
            summary.update(stories=stories, story_cc_rounds=rounds)
            timings["learn"] = round(time.time() - t, 3)
        if a.save_rules:
            shutil.copyfile(rules_path, a.save_rules)
        with open(rules_path) as f:
            rules = json.load(f)
        summary["rules"] = {"lines": len(rules.get("lines", [])),
                            "templates": len(rules.get("templates", [])),
                            "markers": len(rules.get("markers", []))}
        sc.addFile(rules_path)

        # 2. Near-duplicates of the stripped texts.
        t = time.time()
        sk_lines = envelopes.mapPartitions(stage(
            binary, ["sketch", "--config", "@job.json", "--for", "dedup", "--rules",
                     "@rules.json"], ["job.json", "rules.json"]))
        sketches = sk_lines.map(lambda l: (json.loads(l), l)).persist(
            StorageLevel.MEMORY_AND_DISK)
        edges = candidate_edges(spark, sketches.keys(), binary, "dedup", parts)
        comp, rounds = components(edges, parts)
        by_row = sketches.map(lambda dl: (dl[0]["row"], dl[1]))
        members = (comp.join(by_row, parts).join(records, parts)
                   .map(lambda x: (x[1][0][0], '{"sketch":%s,"input":%s}'
                                   % (x[1][0][1], x[1][1])))
                   .groupByKey(parts)
                   .map(lambda kv: '{"members":[' + ",".join(kv[1]) + "]}"))
        clusters = members.mapPartitions(stage(
            binary, ["assign", "--config", "@job.json", "--rules", "@rules.json"],
            ["job.json", "rules.json"])).map(json.loads).persist(StorageLevel.MEMORY_AND_DISK)
        dups = clusters.flatMap(
            lambda c: [(m["row"], 1) for m in c["members"] if m["row"] != c["keep"]])
        dups.persist(StorageLevel.MEMORY_AND_DISK)
        summary["duplicates"] = dups.count()
        summary["clusters"] = clusters.count()
        summary["dedup_cc_rounds"] = rounds
        timings["dedup"] = round(time.time() - t, 3)

        # 3. Output: kept records, stripped, in row order.
        t = time.time()
        out_parts = max(records.getNumPartitions(), 1)
        kept = records.subtractByKey(dups, parts).sortByKey(numPartitions=out_parts)
        cleaned = kept.values().mapPartitions(stage(
            binary, ["apply", "--config", "@job.json", "--rules", "@rules.json"],
            ["job.json", "rules.json"])).persist(StorageLevel.MEMORY_AND_DISK)
        if a.output.lower().endswith(".parquet"):
            schema = None
            if all(kind == "parquet" for _, _, kind in files):
                schema = spark.read.parquet(files[0][0]).schema
            reader = spark.read.schema(schema) if schema is not None else spark.read
            reader.json(cleaned).write.parquet(a.output)
        else:
            cleaned.saveAsTextFile(a.output)
        summary["written"] = cleaned.count()
        summary["emptied_dropped"] = documents - summary["duplicates"] - summary["written"]
        if a.clusters:
            (clusters.map(lambda c: (c["keep"], c)).sortByKey().zipWithIndex()
             .map(lambda ci: json.dumps(
                 {"cluster": ci[1], "keep": next(m["id"] for m in ci[0][1]["members"]
                                                 if m["row"] == ci[0][0]),
                  "members": [{"id": m["id"], "similarity": m["similarity"]}
                              for m in ci[0][1]["members"]]},
                 ensure_ascii=False, separators=(",", ":")))
             .saveAsTextFile(a.clusters))
        timings["write"] = round(time.time() - t, 3)
        timings["total"] = round(time.time() - t0, 3)
        summary["timings"] = timings
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
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
