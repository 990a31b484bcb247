//! A temporary directory with helpers to write inputs and run the binary in it.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, data).expect("write");
        p
    }

    /// Names of the output temporaries (`*.tmp`) left in the directory.
    pub fn temporaries(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("dupstrip").expect("binary");
        c.current_dir(self.dir.path());
        c
    }

    /// Run the binary with `args` in the directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run")
    }

    /// Generate a synthetic corpus `corpus.jsonl` and `truth.jsonl` of `docs` documents.
    pub fn synth(&self, docs: usize, seed: u64) {
        let out = self.run(&[
            "synth",
            "--docs",
            &docs.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
            "corpus.jsonl",
            "--truth",
            "truth.jsonl",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Generate a news corpus with outlet boilerplate, `news.jsonl` and `truth.jsonl`.
    pub fn synth_news(&self, docs: usize, seed: u64) {
        let out = self.run(&[
            "synth",
            "--boilerplate",
            "--docs",
            &docs.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
            "news.jsonl",
            "--truth",
            "truth.jsonl",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Generate news pages with layouts drawn at random (`synth --layouts random`),
    /// `out` and `truth`.
    pub fn synth_random_layouts(&self, docs: usize, seed: u64, out: &str, truth: &str) {
        let o = self.run(&[
            "synth",
            "--layouts",
            "random",
            "--docs",
            &docs.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
            out,
            "--truth",
            truth,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    pub fn json_lines(&self, name: &str) -> Vec<serde_json::Value> {
        self.read(name)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
            .collect()
    }

    pub fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(name)).expect("json")
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert the run succeeded, printing stderr if not.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(o)
    );
}

/// Assert the run failed with exit code 2 and a message containing `needle`, with no
/// panic or backtrace.
pub fn fails_with(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
}

/// The accounting invariant every report must satisfy.
pub fn check_accounting(report: &serde_json::Value) {
    let d = &report["documents"];
    let n = |k: &str| d[k].as_u64().unwrap_or_else(|| panic!("documents.{k}"));
    assert_eq!(
        n("read"),
        n("written") + n("dropped") + n("rejected") + n("emptied_dropped"),
        "accounting: {d}"
    );
}

/// A word made of letters only (digits are folded by normalization).
pub fn word(i: usize) -> String {
    let mut s = String::new();
    let mut i = i + 26;
    while i > 0 {
        s.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
    }
    s
}

pub fn words(range: std::ops::Range<usize>) -> String {
    range.map(word).collect::<Vec<_>>().join(" ")
}

pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}
