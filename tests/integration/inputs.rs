//! Input kinds: stdin, compressed files, directories of text files, several inputs.

use std::io::Write;

use crate::util::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn stdin_to_stdout() {
    let env = Env::new();
    env.synth(300, 2);
    let input = env.read("corpus.jsonl");
    ok(&env.run(&["dedup", "corpus.jsonl", "-o", "file.jsonl", "-q"]));
    let out = env
        .cmd()
        .args(["dedup", "-o", "-", "-q"])
        .write_stdin(input)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout(&out), env.read("file.jsonl"));
    assert!(out.stderr.is_empty());
}

#[test]
fn compressed_inputs_match_plain() {
    let env = Env::new();
    env.synth(400, 3);
    let plain = std::fs::read(env.path("corpus.jsonl")).unwrap();
    env.write("c.jsonl.gz", gzip(&plain));
    env.write("c.jsonl.zst", zstd::encode_all(&plain[..], 3).unwrap());
    ok(&env.run(&["dedup", "corpus.jsonl", "-o", "plain.jsonl"]));
    ok(&env.run(&["dedup", "c.jsonl.gz", "-o", "gz.jsonl"]));
    ok(&env.run(&["dedup", "c.jsonl.zst", "-o", "zst.jsonl"]));
    ok(&env.run(&["dedup", "corpus.jsonl", "-o", "nommap.jsonl", "--no-mmap"]));
    let want = env.read("plain.jsonl");
    assert!(want == env.read("gz.jsonl"));
    assert!(want == env.read("zst.jsonl"));
    assert!(want == env.read("nommap.jsonl"));
    // Compressed output.
    ok(&env.run(&["dedup", "corpus.jsonl", "-o", "out.jsonl.zst"]));
    let z = zstd::decode_all(&std::fs::read(env.path("out.jsonl.zst")).unwrap()[..]).unwrap();
    assert!(z == want.as_bytes());
}

#[test]
fn several_inputs_are_one_corpus() {
    let env = Env::new();
    let a = words(0..80);
    env.write(
        "1.jsonl",
        format!("{}\n", serde_json::json!({"id": "x", "text": a})),
    );
    env.write(
        "2.jsonl",
        format!("{}\n", serde_json::json!({"id": "y", "text": a})),
    );
    ok(&env.run(&[
        "dedup",
        "1.jsonl",
        "2.jsonl",
        "-o",
        "out.jsonl",
        "--report",
        "r.json",
    ]));
    let out = env.json_lines("out.jsonl");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], "x");
    let r = env.json("r.json");
    assert_eq!(r["inputs"].as_array().unwrap().len(), 2);
}

#[test]
fn directory_of_text_files() {
    let env = Env::new();
    let story = words(0..90);
    env.write("docs/b/copy.txt", format!("{story}\n"));
    env.write("docs/a/orig.txt", &story);
    env.write("docs/a/other.txt", words(300..400));
    env.write("docs/notes.csv", "ignored");
    let out = env.run(&["dedup", "docs", "-o", "out.jsonl", "--report", "r.json"]);
    ok(&out);
    assert!(stderr(&out).contains("notes.csv"));
    let out = env.json_lines("out.jsonl");
    let ids: Vec<&str> = out.iter().map(|v| v["id"].as_str().unwrap()).collect();
    // Sorted walk: docs/a/orig.txt precedes docs/b/copy.txt and is kept.
    assert_eq!(ids, ["docs/a/orig.txt", "docs/a/other.txt"]);
    assert_eq!(out[0]["text"], story);
    let r = env.json("r.json");
    assert_eq!(r["skipped_files"].as_array().unwrap().len(), 1);
}

#[test]
fn ids_fall_back_to_file_and_line() {
    let env = Env::new();
    let a = words(0..80);
    env.write(
        "in.jsonl",
        format!(
            "{}\n\n{}\n",
            serde_json::json!({"text": a}),
            serde_json::json!({"text": a})
        ),
    );
    ok(&env.run(&["dedup", "in.jsonl", "-o", "out.jsonl", "--mode", "annotate"]));
    let out = env.json_lines("out.jsonl");
    assert_eq!(out[1]["dupstrip"]["duplicate_of"], "in.jsonl:1");
}

#[test]
fn custom_text_and_id_fields() {
    let env = Env::new();
    let a = words(0..80);
    env.write(
        "in.jsonl",
        format!(
            "{}\n{}\n",
            serde_json::json!({"key": 1, "content": a}),
            serde_json::json!({"key": 2, "content": a})
        ),
    );
    ok(&env.run(&[
        "dedup",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--text-field",
        "content",
        "--id-field",
        "key",
        "--clusters",
        "cl.jsonl",
    ]));
    let cl = env.json_lines("cl.jsonl");
    assert_eq!(cl[0]["keep"], "1");
}

/// A named pipe is read once and spooled, like standard input.
#[cfg(unix)]
#[test]
fn named_pipe_input() {
    let env = Env::new();
    let a = words(0..80);
    let body = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "p", "text": a}),
        serde_json::json!({"id": "q", "text": a})
    );
    let fifo = env.path("pipe.jsonl");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, body).unwrap())
    };
    ok(&env.run(&["dedup", "pipe.jsonl", "-o", "out.jsonl"]));
    writer.join().unwrap();
    let out = env.json_lines("out.jsonl");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], "p");
}

#[test]
fn empty_text_file_counts_the_same_streamed_or_mapped() {
    let env = Env::new();
    env.write("d/empty.txt", "");
    env.write("d/full.txt", words(0..50));
    for extra in [&[][..], &["--no-mmap"][..]] {
        let mut args = vec!["dedup", "d", "-o", "o.jsonl", "--report", "r.json"];
        args.extend_from_slice(extra);
        ok(&env.run(&args));
        let r = env.json("r.json");
        assert_eq!(r["documents"]["read"], 2, "{extra:?}");
        assert_eq!(r["documents"]["empty"], 1, "{extra:?}");
    }
}

/// Runs of kept records go to the output as they lie in a mapped input; the result
/// must be the bytes the streamed reader (`--no-mmap`) and standard output give,
/// whatever the input's byte order mark, line ends, blank lines and last line.
#[test]
fn mapped_runs_match_streamed_and_piped_output() {
    let env = Env::new();
    env.synth(400, 3);
    let plain = env.read("corpus.jsonl");
    let mut odd = String::from("\u{feff}");
    for (i, line) in plain.lines().enumerate() {
        odd.push_str(line);
        odd.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
        if i % 50 == 0 {
            odd.push_str("  \n");
        }
    }
    let odd = odd.trim_end().to_string();
    env.write("odd.jsonl", &odd);
    assert!(odd.len() > 64 * 1024, "small inputs are read, not mapped");
    let args = ["dedup", "odd.jsonl", "corpus.jsonl", "-q"];
    ok(&env.run(&[&args[..], &["-o", "copied.jsonl"]].concat()));
    let piped = env.cmd().args(args).args(["-o", "-"]).output().unwrap();
    ok(&piped);
    let streamed = &[&args[..], &["-o", "streamed.jsonl", "--no-mmap"]].concat();
    ok(&env.run(streamed));
    let copied = env.read("copied.jsonl");
    assert_eq!(copied, stdout(&piped));
    assert_eq!(copied, env.read("streamed.jsonl"));
    // Something was dropped, so the output is made of several runs of the inputs.
    assert!(copied.lines().count() < odd.lines().count() + plain.lines().count() - 20);
}
