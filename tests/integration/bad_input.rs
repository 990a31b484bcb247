//! Bad input: a clear message naming the file and line (or the option), exit code 2,
//! never a panic; with --skip-bad-records, rejected records are counted and listed.

use crate::util::*;

fn good(id: &str) -> String {
    format!("{}\n", serde_json::json!({"id": id, "text": words(0..30)}))
}

#[test]
fn invalid_json_names_file_and_line() {
    let env = Env::new();
    env.write(
        "in.jsonl",
        format!("{}{{\"text\": oops}}\n{}", good("a"), good("b")),
    );
    fails_with(
        &env.run(&["dedup", "in.jsonl", "-o", "out.jsonl"]),
        "in.jsonl:2: invalid JSON",
    );
    assert!(!env.path("out.jsonl").exists(), "no output on failure");
}

#[test]
fn skip_bad_records_counts_and_lists_them() {
    let env = Env::new();
    let body = [
        good("a"),
        "{\"text\": oops}\n".into(),
        "[1, 2]\n".into(),
        "{\"id\": \"m\"}\n".into(),
        "{\"text\": null}\n".into(),
        "{\"text\": 5}\n".into(),
        good("b"),
    ]
    .concat();
    env.write("in.jsonl", body);
    let out = env.run(&[
        "dedup",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--skip-bad-records",
        "--rejects",
        "rej.jsonl",
        "--report",
        "r.json",
    ]);
    ok(&out);
    assert!(stderr(&out).contains("5 bad records"));
    let rej = env.json_lines("rej.jsonl");
    let lines: Vec<u64> = rej.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert_eq!(rej[1]["record"], "[1, 2]");
    assert!(
        rej[2]["reason"]
            .as_str()
            .unwrap()
            .contains("no field \"text\"")
    );
    let r = env.json("r.json");
    check_accounting(&r);
    assert_eq!(r["documents"]["rejected"], 5);
    assert_eq!(r["documents"]["read"], 7);
}

#[test]
fn text_field_of_wrong_type() {
    let env = Env::new();
    env.write("in.jsonl", "{\"text\": [\"a\"]}\n");
    fails_with(
        &env.run(&["dedup", "in.jsonl", "-o", "o.jsonl"]),
        "in.jsonl:1: field \"text\" is an array, not a string",
    );
}

#[test]
fn invalid_utf8_in_text_file_names_the_line() {
    let env = Env::new();
    env.write("d/a.txt", b"line one\nline two \xff\xfe\n");
    fails_with(
        &env.run(&["dedup", "d", "-o", "o.jsonl"]),
        "a.txt:2: invalid UTF-8",
    );
}

#[test]
fn missing_input() {
    let env = Env::new();
    fails_with(
        &env.run(&["dedup", "nope.jsonl", "-o", "o.jsonl"]),
        "nope.jsonl: no such file or directory",
    );
}

#[test]
fn truncated_gzip_is_an_error_even_when_skipping() {
    let env = Env::new();
    let mut data = Vec::new();
    for i in 0..2000 {
        data.extend_from_slice(good(&i.to_string()).as_bytes());
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, &data).unwrap();
    let gz = e.finish().unwrap();
    env.write("in.jsonl.gz", &gz[..gz.len() / 2]);
    fails_with(
        &env.run(&[
            "dedup",
            "in.jsonl.gz",
            "-o",
            "o.jsonl",
            "--skip-bad-records",
        ]),
        "in.jsonl.gz: corrupt or truncated gzip stream",
    );
}

#[test]
fn option_errors_name_the_option() {
    let env = Env::new();
    env.write("in.jsonl", good("a"));
    let cases: &[(&[&str], &str)] = &[
        (&["--threshold", "1.5"], "--threshold must be in (0, 1]"),
        (&["--threshold", "0"], "--threshold must be in (0, 1]"),
        (&["-j", "0"], "-j/--threads must be at least 1"),
        (&["--bands", "20", "--rows", "10"], "exceeds --num-perm 128"),
        (&["--bands", "20"], "--bands and --rows go together"),
    ];
    for (extra, msg) in cases {
        let mut args = vec!["dedup", "in.jsonl", "-o", "o.jsonl"];
        args.extend_from_slice(extra);
        fails_with(&env.run(&args), msg);
    }
}

#[test]
fn output_may_not_overwrite_input() {
    let env = Env::new();
    env.write("in.jsonl", good("a"));
    fails_with(
        &env.run(&["dedup", "in.jsonl", "-o", "in.jsonl"]),
        "the output would overwrite an input",
    );
    assert_eq!(env.read("in.jsonl"), good("a"));
}

#[test]
fn output_directory_missing() {
    let env = Env::new();
    env.write("in.jsonl", good("a"));
    fails_with(
        &env.run(&["dedup", "in.jsonl", "-o", "no/such/dir/o.jsonl"]),
        "no/such/dir/o.jsonl: cannot write",
    );
}

#[test]
fn empty_and_blank_inputs() {
    let env = Env::new();
    env.write("empty.jsonl", "");
    env.write("blank.jsonl", "\n\n  \n");
    env.write(
        "e.jsonl",
        "{\"id\": \"x\", \"text\": \"\"}\n{\"id\": \"y\", \"text\": \"  \"}\n{\"id\": \"z\", \"text\": \"...\"}\n",
    );
    ok(&env.run(&[
        "dedup",
        "empty.jsonl",
        "blank.jsonl",
        "e.jsonl",
        "-o",
        "o.jsonl",
        "--report",
        "r.json",
    ]));
    let r = env.json("r.json");
    check_accounting(&r);
    assert_eq!(r["documents"]["read"], 3);
    assert_eq!(r["documents"]["empty"], 3);
    assert_eq!(r["documents"]["written"], 3);
}

#[test]
fn crlf_bom_and_numeric_ids() {
    let env = Env::new();
    let t = words(0..40);
    env.write(
        "in.jsonl",
        format!(
            "\u{feff}{}\r\n{}\r\n",
            serde_json::json!({"id": 7, "text": t}),
            serde_json::json!({"id": 8, "text": t})
        ),
    );
    ok(&env.run(&[
        "dedup",
        "in.jsonl",
        "-o",
        "o.jsonl",
        "--clusters",
        "c.jsonl",
    ]));
    let c = env.json_lines("c.jsonl");
    assert_eq!(c[0]["keep"], "7");
    assert_eq!(c[0]["members"][1]["id"], "8");
}

#[test]
fn outputs_must_be_distinct() {
    let env = Env::new();
    env.write("in.jsonl", good("a"));
    fails_with(
        &env.run(&["dedup", "in.jsonl", "-o", "-", "--report", "-"]),
        "only one of -o, --clusters, --report, --rejects, --save-rules, --html can be -",
    );
    fails_with(
        &env.run(&[
            "dedup",
            "in.jsonl",
            "-o",
            "x.jsonl",
            "--clusters",
            "x.jsonl",
        ]),
        "x.jsonl is named as two different outputs",
    );
    fails_with(
        &env.run(&[
            "dedup",
            "in.jsonl",
            "-o",
            "x.jsonl",
            "--report",
            "nodir/r.json",
        ]),
        "nodir/r.json: cannot write",
    );
    assert!(!env.path("x.jsonl").exists());
}

#[test]
fn huge_band_product_is_refused_not_overflowed() {
    let env = Env::new();
    env.write("in.jsonl", good("a"));
    fails_with(
        &env.run(&[
            "dedup",
            "in.jsonl",
            "-o",
            "o.jsonl",
            "--bands",
            "9223372036854775809",
            "--rows",
            "2",
        ]),
        "exceeds --num-perm",
    );
}

/// Lines are counted as the first read goes, chunk by chunk (about 1 MiB each):
/// errors, rejects and the ids made up from line numbers name the line in the whole
/// file, far past the first chunk, as a read that counted first did; in each of two
/// inputs, the second with a byte order mark and no newline at its end.
#[test]
fn line_numbers_hold_past_the_first_chunk() {
    let env = Env::new();
    // Records of 30 words each, the words of record i from `from + 31 i`; blank
    // lines and CRLF endings move the line numbers away from the record numbers.
    // Returns the text and the line of each record and of the bad one after `bad`.
    fn input(n: usize, from: usize, bad: usize, copy: Option<usize>) -> (String, Vec<u64>, u64) {
        let (mut body, mut lines, mut line, mut bad_line) = (String::new(), vec![], 0, 0);
        for i in 0..n {
            if i % 97 == 0 {
                body.push_str("\n  \n");
                line += 2;
            }
            let w = match copy {
                Some(c) if i + 1 == n => c * 31,
                _ => from + i * 31,
            };
            let end = if i + 1 == n {
                ""
            } else if i % 5 == 0 {
                "\r\n"
            } else {
                "\n"
            };
            let record = serde_json::json!({ "text": words(w..w + 30) });
            body.push_str(&format!("{record}{end}"));
            line += 1;
            lines.push(line);
            if i == bad {
                body.push_str("{\"text\": oops}\n");
                line += 1;
                bad_line = line;
            }
        }
        (body, lines, bad_line)
    }
    let (one, one_lines, bad_one) = input(24_000, 0, 22_500, None);
    // The last record of the second input copies record 100 of the first.
    let (two, two_lines, bad_two) = input(9_000, 1_000_000, 8_000, Some(100));
    let mut one = one;
    // Record 23,000 of the first input copies its record 40.
    let copy_at = {
        let from = 23_000 * 31;
        let text = serde_json::json!({ "text": words(from..from + 30) }).to_string();
        let copied = serde_json::json!({ "text": words(40 * 31..40 * 31 + 30) }).to_string();
        one = one.replacen(&text, &copied, 1);
        one_lines[23_000]
    };
    assert!(
        one.len() > 3 << 20 && two.len() > 1 << 20,
        "{} {}",
        one.len(),
        two.len()
    );
    env.write("in.jsonl", &one);
    env.write("two.jsonl", format!("\u{feff}{two}"));
    fails_with(
        &env.run(&["dedup", "in.jsonl", "two.jsonl", "-o", "out.jsonl"]),
        &format!("in.jsonl:{bad_one}: invalid JSON"),
    );
    ok(&env.run(&[
        "dedup",
        "in.jsonl",
        "two.jsonl",
        "-o",
        "out.jsonl",
        "--skip-bad-records",
        "--rejects",
        "rej.jsonl",
        "--clusters",
        "clusters.jsonl",
    ]));
    let rej = env.json_lines("rej.jsonl");
    let rejects: Vec<(&str, u64)> = (rej.iter())
        .map(|r| (r["input"].as_str().unwrap(), r["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(rejects, [("in.jsonl", bad_one), ("two.jsonl", bad_two)]);
    let clusters: Vec<Vec<String>> = (env.json_lines("clusters.jsonl").iter())
        .map(|c| {
            (c["members"].as_array().unwrap().iter())
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        clusters,
        [
            vec![
                format!("in.jsonl:{}", one_lines[40]),
                format!("in.jsonl:{copy_at}")
            ],
            vec![
                format!("in.jsonl:{}", one_lines[100]),
                format!("two.jsonl:{}", two_lines[8_999])
            ],
        ],
        "each copy and its original, by line"
    );
}
