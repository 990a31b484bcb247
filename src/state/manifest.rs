//! Manifest: which files are live, under which parameters, after which runs; replaced
//! atomically; the lock of the one writer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use super::*;

/// One run, as the manifest remembers it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunEntry {
    pub run: u32,
    pub command: String,
    /// Seconds since the Unix epoch when the run committed.
    pub finished_unix: u64,
    pub inputs: Vec<String>,
    pub read: u64,
    /// Documents it added to the state.
    pub added: u64,
    /// Documents it found to be copies of documents already in the state.
    pub duplicates_of_state: u64,
    /// Hash of its input bytes: a run with the same input replaces this one.
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The dupstrip that wrote it.
    pub written_by: String,
    pub params: StateParams,
    /// Bumped by every update; new files are named after it.
    pub generation: u64,
    pub next_seq: u64,
    pub next_run: u32,
    pub segments: Vec<SegmentEntry>,
    pub boilerplate: Option<FileEntry>,
    pub runs: Vec<RunEntry>,
}

impl Manifest {
    pub(super) fn new(params: StateParams) -> Manifest {
        Manifest {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            written_by: format!("dupstrip {}", env!("CARGO_PKG_VERSION")),
            params,
            generation: 0,
            next_seq: 0,
            next_run: 1,
            segments: Vec::new(),
            boilerplate: None,
            runs: Vec::new(),
        }
    }

    /// The manifest's text: pretty JSON, then a line with its checksum.
    pub(super) fn to_text(&self) -> String {
        let body = serde_json::to_string_pretty(self).unwrap_or_default();
        format!("{body}\nxxh3 {:016x}\n", xxh3_64(body.as_bytes()))
    }

    pub(super) fn parse(text: &[u8], path: &Path) -> Result<Manifest, StateError> {
        let text = std::str::from_utf8(text).map_err(|_| corrupt(path, "not UTF-8"))?;
        let body = text.trim_end_matches('\n');
        let (body, sum) = body
            .rsplit_once('\n')
            .ok_or_else(|| corrupt(path, "no checksum line"))?;
        // Format and version first, so a future layout gets the right message.
        #[derive(serde::Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
            written_by: Option<String>,
        }
        let head: Head =
            serde_json::from_str(body).map_err(|e| corrupt(path, format!("manifest: {e}")))?;
        if head.format.as_deref() != Some(STATE_FORMAT) {
            return Err(corrupt(
                path,
                format!("\"format\" is not \"{STATE_FORMAT}\""),
            ));
        }
        let version = head.version.unwrap_or(0);
        if version != STATE_VERSION {
            return Err(StateError::Version {
                path: path.display().to_string(),
                found: version,
                writer: head
                    .written_by
                    .unwrap_or_else(|| "an unknown dupstrip".into()),
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        let want = format!("xxh3 {:016x}", xxh3_64(body.as_bytes()));
        if sum != want {
            return Err(corrupt(path, "manifest checksum mismatch"));
        }
        serde_json::from_str(body).map_err(|e| corrupt(path, format!("manifest: {e}")))
    }
}

pub(super) fn is_state_file(name: &str) -> bool {
    (name.starts_with("seg-") && name.ends_with(".dss"))
        || (name.starts_with("bp-") && name.ends_with(".dsb"))
        || name == MANIFEST_TMP
        || name == MANIFEST_PREV_TMP
}

pub(super) fn lock(dir: &Path) -> Result<File, StateError> {
    let path = dir.join(LOCK);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().replace('\n', ", ");
            return Err(StateError::Locked {
                dir: dir.display().to_string(),
                holder: if holder.is_empty() {
                    "a run just starting".into()
                } else {
                    holder
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
    }
    let note = format!(
        "pid {}, started at unix time {}\n",
        std::process::id(),
        unix_now()
    );
    file.set_len(0)
        .and_then(|_| (&file).write_all(note.as_bytes()))
        .map_err(io_err(&path))?;
    Ok(file)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn read_manifest(path: &Path) -> Result<Option<Manifest>, StateError> {
    match fs::read(path) {
        Ok(text) => Manifest::parse(&text, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Segments must tile `0..next_seq` in order, so a sequence number finds its segment
/// by binary search.
pub(super) fn check_ranges(m: &Manifest, path: &Path) -> Result<(), StateError> {
    let mut next = 0u64;
    for s in &m.segments {
        if s.first_seq != next {
            return Err(corrupt(path, "segment ranges are not contiguous"));
        }
        next = next
            .checked_add(s.docs)
            .ok_or_else(|| corrupt(path, "segment range overflows"))?;
    }
    if next != m.next_seq {
        return Err(corrupt(path, "segments do not end at next_seq"));
    }
    Ok(())
}

/// Remove the files of `dir` that look like state files but no manifest of `live`
/// names.
pub(super) fn remove_unreferenced(dir: &Path, live: &[&Manifest]) -> Result<(), StateError> {
    let names: Vec<&str> = live
        .iter()
        .flat_map(|m| {
            m.segments
                .iter()
                .map(|s| s.file.file.as_str())
                .chain(m.boilerplate.as_ref().map(|b| b.file.as_str()))
        })
        .collect();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_state_file(&name) && !names.contains(&name.as_ref()) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

impl State {
    /// Put `next` (whose segments `segs` are open) in place of the manifest, with
    /// `prev` as `MANIFEST.prev` (`None` keeps the one there), then remove the files
    /// neither names.
    pub(super) fn replace_manifest(
        &mut self,
        next: Manifest,
        prev: Option<Manifest>,
        segs: Vec<Segment>,
    ) -> Result<(), StateError> {
        let write = |name: &str, m: &Manifest| -> Result<(), StateError> {
            let path = self.dir.join(name);
            let mut f = File::create(&path).map_err(io_err(&path))?;
            f.write_all(m.to_text().as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io_err(&path))
        };
        write(MANIFEST_TMP, &next)?;
        if let Some(p) = &prev {
            write(MANIFEST_PREV_TMP, p)?;
        }
        sync_dir(&self.dir)?;
        kill_point("manifest-written");
        if prev.is_some() {
            let tmp = self.dir.join(MANIFEST_PREV_TMP);
            fs::rename(&tmp, self.dir.join(MANIFEST_PREV)).map_err(io_err(&tmp))?;
        }
        let tmp = self.dir.join(MANIFEST_TMP);
        fs::rename(&tmp, self.dir.join(MANIFEST)).map_err(io_err(&tmp))?;
        // The run is committed once the rename is durable; a failure to sync the
        // directory after it is reported, but the state is sound either way.
        let synced = sync_dir(&self.dir);
        kill_point("manifest-renamed");
        self.disk_generation = next.generation;
        if let Some(p) = prev {
            self.prev = Some(p);
        }
        self.segments = segs;
        self.manifest = next;
        self.existed = true;
        // Leftovers are removed by the next writer if this fails.
        let live: Vec<&Manifest> = std::iter::once(&self.manifest).chain(&self.prev).collect();
        let _ = remove_unreferenced(&self.dir, &live);
        synced
    }
}
