//! The bad-input battery: every case runs the real binary and asserts the outcome.
//! A failing case exits 2 with a message naming the file and line (or the option),
//! never a panic. A record-level failure is skipped, counted and listed under
//! --skip-bad-records. Every run that ends satisfies the accounting invariant.

use std::io::Write;

use crate::util::*;

enum Expect {
    /// Runs to the end; `rejected` bad records when skipping.
    Ok { rejected: u64 },
    /// Exit 2 with this in the message, also when skipping bad records (stream
    /// corruption, options, paths).
    Fails(&'static str),
    /// Exit 2 with this in the message; with --skip-bad-records, exit 0 and this many
    /// rejected records.
    BadRecords(&'static str, u64),
}

struct Case {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: Vec<&'static str>,
    expect: Expect,
}

fn line(text: &str) -> Vec<u8> {
    format!("{}\n", serde_json::json!({"id": "ok", "text": text})).into_bytes()
}

fn ok_line() -> Vec<u8> {
    line(&words(0..40))
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn cases() -> Vec<Case> {
    let many: Vec<u8> = (0..3000)
        .flat_map(|i| line(&format!("{} {}", words(0..30), word(i))))
        .collect();
    let big_text = words(0..9_000_000 / 7);
    // About 50 MB of text in one record.
    let huge_text = big_text.repeat(6);
    let c = |name, files, args: &[&'static str], expect| Case {
        name,
        files,
        args: args.to_vec(),
        expect,
    };
    vec![
        c(
            "invalid UTF-8 in a line",
            vec![("in.jsonl", cat(&[&ok_line(), b"{\"text\": \"a\xff\"}\n"]))],
            &["in.jsonl"],
            Expect::BadRecords("in.jsonl:2: invalid JSON", 1),
        ),
        c(
            "truncated last line",
            vec![("in.jsonl", cat(&[&ok_line(), b"{\"text\": \"abc"]))],
            &["in.jsonl"],
            Expect::BadRecords("in.jsonl:2: invalid JSON", 1),
        ),
        c(
            "invalid JSON",
            vec![("in.jsonl", cat(&[b"{text: 1}\n", &ok_line()]))],
            &["in.jsonl"],
            Expect::BadRecords("in.jsonl:1: invalid JSON", 1),
        ),
        c(
            "JSON that is not an object",
            vec![("in.jsonl", cat(&[&ok_line(), b"\"just a string\"\n"]))],
            &["in.jsonl"],
            Expect::BadRecords("in.jsonl:2: the line is a JSON string, not an object", 1),
        ),
        c(
            "missing text field",
            vec![("in.jsonl", b"{\"id\": 1}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("in.jsonl:1: no field \"text\"", 1),
        ),
        c(
            "text is null",
            vec![("in.jsonl", b"{\"text\": null}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("field \"text\" is null, not a string", 1),
        ),
        c(
            "text is a number",
            vec![("in.jsonl", b"{\"text\": 12}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("field \"text\" is a number", 1),
        ),
        c(
            "text is an array",
            vec![("in.jsonl", b"{\"text\": [\"a\"]}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("field \"text\" is an array", 1),
        ),
        c(
            "text is an object",
            vec![("in.jsonl", b"{\"text\": {\"a\": 1}}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("field \"text\" is an object", 1),
        ),
        c(
            "id is an array",
            vec![("in.jsonl", b"{\"id\": [1], \"text\": \"a\"}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("field \"id\" is an array, not a string or number", 1),
        ),
        c(
            "raw NUL byte inside a JSON string",
            vec![("in.jsonl", b"{\"text\": \"a\x00b\"}\n".to_vec())],
            &["in.jsonl"],
            Expect::BadRecords("in.jsonl:1: invalid JSON", 1),
        ),
        c(
            "escaped NUL in text",
            vec![("in.jsonl", b"{\"text\": \"a\\u0000b\"}\n".to_vec())],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "empty text",
            vec![("in.jsonl", line(""))],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "whitespace-only text",
            vec![("in.jsonl", line(" \n\t "))],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "empty file",
            vec![("in.jsonl", Vec::new())],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "file of blank lines",
            vec![("in.jsonl", b"\n\n \r\n\n".to_vec())],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "a 50 MB single document",
            vec![("in.jsonl", line(&huge_text))],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "one very long line of text",
            vec![("d/long.txt", big_text.clone().into_bytes())],
            &["d"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "record over --max-record-bytes",
            vec![("in.jsonl", cat(&[&line(&big_text), &ok_line()]))],
            &["in.jsonl", "--max-record-bytes", "1000000"],
            Expect::BadRecords("over the limit of 1000000 bytes", 1),
        ),
        c(
            "compressed record over --max-record-bytes",
            vec![(
                "in.jsonl.gz",
                gz(&cat(&[&ok_line(), &line(&big_text), &ok_line()])),
            )],
            &["in.jsonl.gz", "--max-record-bytes", "1000000"],
            Expect::BadRecords("in.jsonl.gz:2: record is 1000001 bytes, over the limit", 1),
        ),
        c(
            "CRLF line ends",
            vec![(
                "in.jsonl",
                ok_line()
                    .iter()
                    .flat_map(|&b| {
                        if b == b'\n' {
                            vec![b'\r', b'\n']
                        } else {
                            vec![b]
                        }
                    })
                    .collect(),
            )],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "UTF-8 BOM",
            vec![("in.jsonl", cat(&[b"\xEF\xBB\xBF", &ok_line()]))],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "duplicate ids",
            vec![("in.jsonl", cat(&[&ok_line(), &ok_line()]))],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "ids that are numbers",
            vec![(
                "in.jsonl",
                b"{\"id\": 1, \"text\": \"a b\"}\n{\"id\": 2.5, \"text\": \"c d\"}\n".to_vec(),
            )],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "lone surrogate escape",
            vec![("in.jsonl", b"{\"text\": \"a \\ud800 b\"}\n".to_vec())],
            &["in.jsonl"],
            Expect::Ok { rejected: 0 },
        ),
        c(
            "truncated .gz",
            vec![("in.jsonl.gz", {
                let g = gz(&many);
                g[..g.len() / 2].to_vec()
            })],
            &["in.jsonl.gz"],
            Expect::Fails("in.jsonl.gz: corrupt or truncated gzip stream"),
        ),
        c(
            "corrupt .zst",
            vec![("in.jsonl.zst", {
                let mut z = zstd::encode_all(&many[..], 3).unwrap();
                let n = z.len();
                for b in &mut z[n / 3..n / 2] {
                    *b ^= 0x5a;
                }
                z
            })],
            &["in.jsonl.zst"],
            Expect::Fails("in.jsonl.zst: corrupt or truncated zstd stream"),
        ),
        c(
            "binary file passed as text",
            vec![(
                "d/bin.txt",
                (0..4096u32)
                    .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80)
                    .collect(),
            )],
            &["d"],
            Expect::BadRecords("bin.txt:1: invalid UTF-8", 1),
        ),
        c(
            "input path that does not exist",
            vec![],
            &["nope.jsonl"],
            Expect::Fails("nope.jsonl: no such file or directory"),
        ),
        c(
            "output path equal to an input",
            vec![("in.jsonl", ok_line())],
            &["in.jsonl", "-o", "in.jsonl"],
            Expect::Fails("the output would overwrite an input"),
        ),
        c(
            "output directory that does not exist",
            vec![("in.jsonl", ok_line())],
            &["in.jsonl", "-o", "missing/out.jsonl"],
            Expect::Fails("missing/out.jsonl: cannot write"),
        ),
        c(
            "rules file of the wrong version",
            vec![
                ("in.jsonl", ok_line()),
                (
                    "r.json",
                    br#"{"format": "dupstrip-rules", "version": 99}"#.to_vec(),
                ),
            ],
            &["in.jsonl", "--rules", "r.json"],
            Expect::Fails("r.json: rules file version 99"),
        ),
        c(
            "rules file that is not JSON",
            vec![
                ("in.jsonl", ok_line()),
                ("r.json", b"lines:\n - x\n".to_vec()),
            ],
            &["in.jsonl", "--rules", "r.json"],
            Expect::Fails("r.json: not a rules file"),
        ),
        c(
            "-j 0",
            vec![("in.jsonl", ok_line())],
            &["in.jsonl", "-j", "0"],
            Expect::Fails("-j/--threads must be at least 1"),
        ),
        c(
            "threshold above 1",
            vec![("in.jsonl", ok_line())],
            &["in.jsonl", "--threshold", "1.01"],
            Expect::Fails("--threshold must be in (0, 1]"),
        ),
        c(
            "threshold 0",
            vec![("in.jsonl", ok_line())],
            &["in.jsonl", "--threshold", "0"],
            Expect::Fails("--threshold must be in (0, 1]"),
        ),
        c(
            "more bands × rows than permutations",
            vec![("in.jsonl", ok_line())],
            &["in.jsonl", "--bands", "64", "--rows", "3"],
            Expect::Fails("exceeds --num-perm 128"),
        ),
        c(
            "mixed good and bad records",
            vec![(
                "in.jsonl",
                cat(&[&ok_line(), b"nope\n", &many[..2000], b"\n[]\n", &ok_line()]),
            )],
            &["in.jsonl"],
            // "nope", the line cut at byte 2000, and "[]".
            Expect::BadRecords("in.jsonl:2: invalid JSON", 3),
        ),
    ]
}

#[cfg(unix)]
fn symlink_loop(env: &Env) {
    std::fs::create_dir_all(env.path("loop/a")).unwrap();
    env.write("loop/a/x.jsonl", ok_line());
    std::os::unix::fs::symlink(env.path("loop"), env.path("loop/a/back")).unwrap();
}

#[test]
fn bad_input_battery() {
    let all = cases();
    assert!(all.len() >= 30, "the battery has {} cases", all.len());
    for (n, case) in all.into_iter().enumerate() {
        for command in ["dedup", "clean"] {
            let env = Env::new();
            for (path, data) in &case.files {
                env.write(path, data);
            }
            let mut args = vec![command];
            args.extend(&case.args);
            if !case.args.contains(&"-o") {
                args.extend(["-o", "out.jsonl"]);
            }
            if command == "dedup" && case.args.contains(&"--rules") {
                continue;
            }
            args.extend(["--report", "r.json", "--rejects", "rej.jsonl"]);
            let what = format!("case {n} ({}), {command}", case.name);
            let plain = env.run(&args);
            match &case.expect {
                Expect::Ok { .. } => {
                    assert!(plain.status.success(), "{what}: {}", stderr(&plain));
                    check_accounting(&env.json("r.json"));
                }
                Expect::Fails(msg) | Expect::BadRecords(msg, _) => {
                    assert_eq!(plain.status.code(), Some(2), "{what}: {}", stderr(&plain));
                    let err = stderr(&plain);
                    assert!(err.contains(msg), "{what}: expected {msg:?} in {err}");
                    assert!(!err.contains("panicked"), "{what}: {err}");
                    assert!(!env.path("out.jsonl").exists(), "{what}: partial output");
                }
            }
            let mut skipping = args.clone();
            skipping.push("--skip-bad-records");
            let skipped = env.run(&skipping);
            match &case.expect {
                Expect::Ok { rejected } | Expect::BadRecords(_, rejected) => {
                    assert!(
                        skipped.status.success(),
                        "{what} skipping: {}",
                        stderr(&skipped)
                    );
                    let r = env.json("r.json");
                    check_accounting(&r);
                    assert_eq!(r["documents"]["rejected"], *rejected, "{what}");
                    assert_eq!(
                        env.json_lines("rej.jsonl").len() as u64,
                        *rejected,
                        "{what}"
                    );
                }
                Expect::Fails(msg) => {
                    assert_eq!(skipped.status.code(), Some(2), "{what} skipping");
                    assert!(stderr(&skipped).contains(msg), "{what} skipping");
                }
            }
        }
    }
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_an_error() {
    let env = Env::new();
    symlink_loop(&env);
    fails_with(
        &env.run(&["dedup", "loop", "-o", "o.jsonl"]),
        "symbolic link loop",
    );
}
