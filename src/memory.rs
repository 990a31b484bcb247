//! Memory: how much did the run hold, and in which stage?
//!
//! A sampling thread reads the process's anonymous resident memory (`RssAnon` in
//! `/proc/self/status`: heap, stacks; not the memory-mapped input or temporary files,
//! which the kernel can drop and read again) every few milliseconds and keeps the
//! highest value overall and per stage. The report gives it beside the kernel's own
//! peak of all resident memory (`VmHWM`, which counts the mapped input). On systems
//! without `/proc` both read 0.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Time between two samples. A spike shorter than this can be missed.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// The stages memory is attributed to, in the order a run goes through them.
/// "start" is everything before the first of them (options, opening the input).
pub const STAGES: [&str; 11] = [
    "start",
    "learn: reading pages",
    "learn: stories",
    "learn: line counts",
    "learn: rules",
    "sketch",
    "candidates",
    "cluster",
    "write",
    "html",
    "state",
];

/// A stage of [`STAGES`].
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    Start = 0,
    /// `clean` learning: the read of every page (signatures, line keys).
    Learn,
    /// Grouping pages into stories.
    LearnStories,
    /// Counting line keys per story.
    LearnCounts,
    /// Choosing rules and finding their examples.
    LearnRules,
    Sketch,
    Candidates,
    Cluster,
    Write,
    Html,
    State,
}

static STAGE: AtomicUsize = AtomicUsize::new(0);
static PEAKS: [AtomicU64; STAGES.len()] = [const { AtomicU64::new(0) }; STAGES.len()];
static RUNNING: AtomicBool = AtomicBool::new(false);
static SAMPLER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Start sampling, until [`report`] (a call while sampling does nothing).
pub fn watch() {
    if RUNNING.swap(true, Ordering::SeqCst) || status_kib("RssAnon:").is_none() {
        return;
    }
    let handle = std::thread::Builder::new()
        .name("dupstrip-memory".into())
        .spawn(|| {
            while RUNNING.load(Ordering::Relaxed) {
                sample();
                // Parked rather than asleep, so that `report` wakes it at once
                // instead of waiting out the interval (up to 5 ms at the end of
                // every run).
                std::thread::park_timeout(SAMPLE_EVERY);
            }
        });
    if let (Ok(h), Ok(mut slot)) = (handle, SAMPLER.lock()) {
        *slot = Some(h);
    }
}

/// Under `--mem-limit`, what one stage frees goes back to the system before the
/// next allocates. glibc keeps freed blocks in its arenas, and raises the size
/// under which it does so (up to 32 MiB) each time it frees a large block. So blocks
/// of 128 KiB or more are mapped and unmapped on their own (a threshold set in
/// glibc's `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` is left as it is; the
/// setting lasts for the process), and each stage of a limited run starts by
/// returning what the arenas hold free (`malloc_trim`). On 1 GB of news under
/// `--mem-limit 64M`, `clean` peaked at 58.5 MiB without either, 53.4 MiB with the
/// trim alone, and 42.3 MiB with both; on 5 GB the run took 154 s with the fixed
/// threshold alone, 152 s with the trim alone and 157.6 s with both (one run each). Other allocators: nothing. `limited` false (a run without a
/// limit, in the same process) stops the trims.
pub fn release_freed_memory(limited: bool) {
    TRIM.store(limited, Ordering::Relaxed);
    if !limited {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none()
        && !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"))
    {
        // SAFETY: `mallopt` only sets a parameter of glibc's allocator, under its
        // own lock; no memory is touched.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        }
    }
    trim();
}

static TRIM: AtomicBool = AtomicBool::new(false);

fn trim() {
    if !TRIM.load(Ordering::Relaxed) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory of glibc's allocator to the
    // system, under its own locks; no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Forget the peaks so far (a new run starts).
pub fn reset() {
    STAGE.store(0, Ordering::Relaxed);
    PEAKS.iter().for_each(|p| p.store(0, Ordering::Relaxed));
}

/// Memory from now on counts for `stage`.
pub fn stage(stage: Stage) {
    sample();
    trim();
    STAGE.store(stage as usize, Ordering::Relaxed);
    sample();
}

fn sample() {
    if let Some(kib) = status_kib("RssAnon:") {
        let stage = STAGE.load(Ordering::Relaxed).min(STAGES.len() - 1);
        PEAKS[stage].fetch_max(kib << 10, Ordering::Relaxed);
    }
}

/// A value of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// What the run held, for the report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MemoryReport {
    /// Highest anonymous resident memory sampled (bytes): what `--mem-limit` bounds,
    /// plus the fixed buffers of the run.
    pub peak_anon_bytes: u64,
    /// The kernel's peak of all resident memory (`VmHWM`), memory-mapped input and
    /// temporary files included.
    pub peak_rss_bytes: u64,
    /// `--mem-limit` in bytes, when given.
    pub limit_bytes: Option<u64>,
    /// Highest anonymous memory sampled in each stage the run went through.
    pub peak_anon_by_stage: Vec<StagePeak>,
    /// What went to temporary files because it did not fit its share of
    /// `--mem-limit` (filled in by the pipeline).
    pub spilled: Vec<&'static str>,
}

/// The highest anonymous memory sampled in one stage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StagePeak {
    pub stage: &'static str,
    pub peak_anon_bytes: u64,
}

/// The peaks so far (after one last sample); sampling stops until the next
/// [`watch`].
pub fn report(limit: Option<u64>) -> MemoryReport {
    sample();
    if RUNNING.swap(false, Ordering::SeqCst)
        && let Some(h) = SAMPLER.lock().ok().and_then(|mut s| s.take())
    {
        h.thread().unpark();
        let _ = h.join();
    }
    let by_stage: Vec<StagePeak> = STAGES
        .iter()
        .zip(&PEAKS)
        .map(|(&stage, p)| StagePeak {
            stage,
            peak_anon_bytes: p.load(Ordering::Relaxed),
        })
        .filter(|s| s.peak_anon_bytes > 0)
        .collect();
    MemoryReport {
        peak_anon_bytes: by_stage
            .iter()
            .map(|s| s.peak_anon_bytes)
            .max()
            .unwrap_or(0),
        peak_rss_bytes: status_kib("VmHWM:").unwrap_or(0) << 10,
        limit_bytes: limit,
        peak_anon_by_stage: by_stage,
        spilled: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_are_sampled_per_stage() {
        watch();
        stage(Stage::Sketch);
        let held: Vec<u8> = vec![1; 8 << 20];
        stage(Stage::Write);
        let r = report(Some(64 << 20));
        assert!(held.iter().all(|&b| b == 1));
        if cfg!(target_os = "linux") {
            assert!(r.peak_anon_bytes >= 8 << 20, "{r:?}");
            assert!(r.peak_rss_bytes >= r.peak_anon_bytes);
            assert!(r.peak_anon_by_stage.iter().any(|s| s.stage == "write"));
        }
        assert_eq!(r.limit_bytes, Some(64 << 20));
    }
}
