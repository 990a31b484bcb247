//! Crash safety: a run killed at any moment leaves the previous file or the complete
//! new one under each final name, never a partial one; Ctrl-C exits 130 and removes
//! its temporary files.

#![cfg(unix)]

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("dupstrip")
}

const OUTPUTS: [&str; 3] = ["out.jsonl", "cl.jsonl", "r.json"];

fn args<'a>(names: &'a [&'a str; 3]) -> Vec<&'a str> {
    vec![
        "clean",
        "news.jsonl",
        "-o",
        names[0],
        "--clusters",
        names[1],
        "--report",
        names[2],
        "-q",
    ]
}

#[test]
fn sigkill_at_any_point_leaves_old_or_complete_files() {
    let env = Env::new();
    env.synth_news(6000, 12);
    let full_names = ["full.jsonl", "full-cl.jsonl", "full-r.json"];
    let timed = std::time::Instant::now();
    ok(&env.run(&args(&full_names)));
    let took = timed.elapsed().as_millis() as u64;
    let full: Vec<Vec<u8>> = full_names
        .iter()
        .map(|n| std::fs::read(env.path(n)).unwrap())
        .collect();
    let (mut killed, mut finished) = (0, 0);
    // Kills spread over the whole run, whatever the machine's speed (a clean run of
    // this corpus took 0.25 s on a fast machine, 2 s on a slow one): fractions of the
    // time the complete run took, and past its end.
    let delays = [2, 8, 15, 25, 40, 55, 70, 85, 100, 150].map(|pct| (took * pct / 100).max(1));
    for delay_ms in delays {
        for name in OUTPUTS {
            env.write(name, b"previous\n");
        }
        let mut child = Command::new(bin())
            .args(args(&OUTPUTS))
            .current_dir(env.dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let done = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
        if done {
            finished += 1
        } else {
            killed += 1
        }
        for (i, name) in OUTPUTS.iter().enumerate() {
            let now = std::fs::read(env.path(name)).unwrap();
            if i == 2 && now != b"previous\n" {
                // The report carries timings: it must be whole JSON of this run.
                let r: serde_json::Value = serde_json::from_slice(&now).expect("whole report");
                assert_eq!(
                    r["documents"],
                    serde_json::from_slice::<serde_json::Value>(&full[2]).unwrap()["documents"]
                );
            } else {
                assert!(
                    now == b"previous\n" || now == full[i],
                    "{name} partial after kill at {delay_ms} ms"
                );
            }
        }
    }
    assert!(
        killed >= 3,
        "only {killed} runs were killed mid-way ({finished} finished first)"
    );
}

/// Ctrl-C while an output is being written: exit 130, every temporary removed, and
/// the output either absent or complete (one put in place before the signal stays;
/// nothing is ever half-written under its name). The signal is sent once the output's
/// temporary exists, so the run is in its write stage, whatever the machine's speed
/// (a fixed delay landed after the run on a fast machine).
#[test]
fn ctrl_c_exits_130_and_removes_temporaries() {
    let env = Env::new();
    env.synth(20000, 6);
    let run = ["dedup", "corpus.jsonl", "-q", "-o"];
    ok(&env.run(&[&run[..], &["full.jsonl"]].concat()));
    let full = std::fs::read(env.path("full.jsonl")).unwrap();
    let mut child = Command::new(bin())
        .args([&run[..], &["out.jsonl"]].concat())
        .current_dir(env.dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    let mut ended = false;
    while env.temporaries().is_empty() && waited.elapsed() < Duration::from_secs(60) {
        ended = child.try_wait().unwrap().is_some();
        if ended {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    if !ended {
        let st = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let out = child.wait_with_output().unwrap();
    let left = env.temporaries();
    assert!(left.is_empty(), "temporaries left: {left:?}");
    if out.status.code() == Some(0) {
        // Finished before the signal.
        assert_eq!(std::fs::read(env.path("out.jsonl")).unwrap(), full);
        return;
    }
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(written) = std::fs::read(env.path("out.jsonl")) {
        assert!(written == full, "a partial output was left under its name");
    }
}

#[test]
fn closed_stdout_pipe_exits_quietly() {
    use std::io::Read;
    let env = Env::new();
    env.synth(6000, 2);
    let mut child = Command::new(bin())
        .args(["dedup", "corpus.jsonl", "-o", "-", "-q"])
        .current_dir(env.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reader goes away, like `| head -c 100`.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Outputs are replaced by renaming a finished temporary over them, except where that
/// would be wrong: a symbolic link is followed (the link stays, its target gets the
/// output), and a named pipe is written in place (renaming over it, or over
/// `/dev/null`, would put a plain file where the pipe or device was).
#[test]
fn symlinks_are_followed_and_pipes_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::new();
    env.synth_news(300, 4);
    ok(&env.run(&["clean", "news.jsonl", "-o", "plain.jsonl", "-q"]));
    let expected = std::fs::read(env.path("plain.jsonl")).unwrap();

    std::fs::create_dir(env.path("real")).unwrap();
    env.write("real/out.jsonl", "old\n");
    std::os::unix::fs::symlink("real/out.jsonl", env.path("link.jsonl")).unwrap();
    ok(&env.run(&["clean", "news.jsonl", "-o", "link.jsonl", "-q"]));
    let link = std::fs::symlink_metadata(env.path("link.jsonl")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::read(env.path("real/out.jsonl")).unwrap(), expected);

    let fifo = env.path("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    ok(&env.run(&["clean", "news.jsonl", "-o", "pipe", "-q"]));
    // Checked before joining: a replaced pipe would leave the reader waiting forever.
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo(), "the pipe was replaced");
    assert_eq!(reader.join().unwrap(), expected);
    let leftovers = env.temporaries();
    assert!(leftovers.is_empty(), "temporaries left: {leftovers:?}");

    // Every output to /dev/null at once (allowed for a device, refused for a file).
    let is_device = |p: &str| std::fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device());
    if is_device("/dev/null") {
        let null = "/dev/null";
        ok(&env.run(&[
            "clean",
            "news.jsonl",
            "-o",
            null,
            "--clusters",
            null,
            "--report",
            null,
            "-q",
        ]));
        assert!(is_device("/dev/null"), "/dev/null was replaced");
    } else {
        eprintln!("/dev/null is not a character device here; that part is skipped");
    }
    let twice = env.run(&[
        "clean",
        "news.jsonl",
        "-o",
        "a.jsonl",
        "--clusters",
        "a.jsonl",
    ]);
    fails_with(&twice, "named as two different outputs");
}

/// The clusters and rejects files are written while the records are, but go into
/// place only once the output is complete and synced: a run whose output cannot be
/// written (`/dev/full`) leaves the earlier clusters and rejects files as they were,
/// and no temporary behind, whether the records fail as they are written (`drop`,
/// written from the input as it lies) or only when the output is flushed at the end
/// (`annotate`, rendered into a buffer larger than this output).
#[test]
fn a_failed_output_leaves_the_side_files_as_they_were() {
    use std::os::unix::fs::FileTypeExt;
    let full = "/dev/full";
    if !std::fs::metadata(full).is_ok_and(|m| m.file_type().is_char_device()) {
        eprintln!("{full} is not a character device here; the test is skipped");
        return;
    }
    let env = Env::new();
    env.synth(400, 3);
    let mut corpus = std::fs::read(env.path("corpus.jsonl")).unwrap();
    corpus.extend_from_slice(b"{not json\n");
    env.write("corpus.jsonl", &corpus);
    let side = ["--clusters", "clusters.jsonl", "--rejects", "rejects.jsonl"];
    for mode in ["drop", "annotate"] {
        env.write("clusters.jsonl", "earlier clusters\n");
        env.write("rejects.jsonl", "earlier rejects\n");
        let mut args = vec!["dedup", "corpus.jsonl", "--skip-bad-records", "-q"];
        args.extend(["--mode", mode, "-o"]);
        let failed = env.run(&[&args[..], &[full], &side[..]].concat());
        fails_with(&failed, full);
        assert_eq!(env.read("clusters.jsonl"), "earlier clusters\n", "{mode}");
        assert_eq!(env.read("rejects.jsonl"), "earlier rejects\n", "{mode}");
        let leftovers = env.temporaries();
        assert!(
            leftovers.is_empty(),
            "{mode}: temporaries left: {leftovers:?}"
        );

        // The same run with an output that can be written puts all three in place.
        args.push("out.jsonl");
        ok(&env.run(&[&args[..], &side[..]].concat()));
        assert!(
            env.read("clusters.jsonl").contains("\"cluster\":0"),
            "{mode}"
        );
        assert!(env.read("rejects.jsonl").contains("{not json"), "{mode}");
    }
}
