//! Output: how do results reach disk without ever leaving a half-written file?
//!
//! Every file dupstrip writes goes to a temporary file in the target directory and is
//! renamed over the final name only when complete. `-` is standard output. A name
//! ending in `.gz` or `.zst` is compressed. A symbolic link is followed, so the file it
//! names is replaced and the link stays; a name that is not a regular file (`/dev/null`,
//! a named pipe, a terminal) is written in place, since renaming over it would replace
//! the device or pipe with a plain file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::temporaries::{create_temporary, settle_temporary};

mod records;

pub use records::{Written, check_outputs, splice_text, write_outputs, write_rules};

/// Where output goes.
pub enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: Box<dyn FinishWrite>,
        /// The temporary to rename over `dest`; `None` when `dest` is written in place.
        tmp: Option<tempfile::TempPath>,
        dest: PathBuf,
    },
    /// A `.parquet` output: JSON Lines go to `rows`, converted into `file` (the
    /// temporary next to `dest`) on commit.
    Parquet {
        rows: BufWriter<File>,
        file: File,
        tmp: Option<tempfile::TempPath>,
        dest: PathBuf,
        schema: Option<arrow_schema::SchemaRef>,
    },
}

/// A writer that must be finished (compression trailers flushed) before it is closed.
pub trait FinishWrite: Write + Send {
    fn finish(self: Box<Self>) -> io::Result<File>;

    /// Write every byte of `slices`, in order.
    fn write_slices(&mut self, slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        slices.iter().try_for_each(|s| self.write_all(s))
    }
}

impl FinishWrite for BufWriter<Writeback> {
    fn finish(self: Box<Self>) -> io::Result<File> {
        Ok(self.into_inner().map_err(|e| e.into_error())?.into_file())
    }

    /// Straight to the file, a `writev` at a time, after what the buffer holds: the
    /// bytes are not copied into the buffer first.
    fn write_slices(&mut self, slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        self.flush()?;
        write_all_vectored(self.get_mut(), slices)
    }
}

/// `Write::write_all_vectored`, which the standard library has not stabilized.
fn write_all_vectored(w: &mut impl Write, mut slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    io::IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl FinishWrite for flate2::write::GzEncoder<BufWriter<Writeback>> {
    fn finish(self: Box<Self>) -> io::Result<File> {
        Ok((*self)
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .into_file())
    }
}

impl FinishWrite for zstd::stream::write::Encoder<'static, BufWriter<Writeback>> {
    fn finish(self: Box<Self>) -> io::Result<File> {
        Ok((*self)
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .into_file())
    }
}

/// Bytes written between two requests to start writing them to disk.
const WRITEBACK_BYTES: u64 = 8 << 20;

/// A file that is synced once complete: as it is written, the kernel is asked every
/// [`WRITEBACK_BYTES`] to start writing what came in (`sync_file_range`, without
/// waiting), so the disk works while the rest is produced and the final sync waits
/// for the last stretch only, not for the whole file. The requests are made by a
/// thread of their own: each costs the caller about half a millisecond a stretch
/// (the kernel walks the pages and queues them), time the writer spends writing.
pub struct Writeback {
    file: File,
    /// Bytes written, and where the last request to write back ended.
    written: u64,
    started: u64,
    /// Whether the file is synced at the end (a temporary): a device or pipe written
    /// in place has nothing to write back.
    synced: bool,
    /// The thread making the requests, once started, and whether it could not be.
    /// A `Writeback` dropped unfinished (the run failed) leaves the thread to end on
    /// its own once its last request is made.
    requests: Option<Requests>,
    no_thread: bool,
}

/// Where the ranges to write back are sent, and the thread that requests them.
type Requests = (
    std::sync::mpsc::Sender<(u64, u64)>,
    std::thread::JoinHandle<()>,
);

impl Writeback {
    fn new(file: File, synced: bool) -> Writeback {
        Writeback {
            file,
            written: 0,
            started: 0,
            synced,
            requests: None,
            no_thread: false,
        }
    }

    fn start_writeback(&mut self) {
        let range = (self.started, self.written - self.started);
        self.started = self.written;
        if !cfg!(target_os = "linux") {
            return;
        }
        if self.requests.is_none() && !self.no_thread {
            self.requests = self.spawn_requests();
            self.no_thread = self.requests.is_none();
        }
        match &self.requests {
            Some((to, _)) if to.send(range).is_ok() => {}
            _ => request_writeback(&self.file, range),
        }
    }

    /// The thread that makes the requests, on a handle of its own to the file;
    /// `None` where either cannot be had (the writer then makes them itself).
    fn spawn_requests(&self) -> Option<Requests> {
        let file = self.file.try_clone().ok()?;
        let (to, from) = std::sync::mpsc::channel::<(u64, u64)>();
        let handle = std::thread::Builder::new()
            .name("dupstrip-writeback".into())
            .spawn(move || {
                for range in from {
                    request_writeback(&file, range);
                }
            })
            .ok()?;
        Some((to, handle))
    }

    /// The file, once the requests made so far are done.
    fn into_file(self) -> File {
        if let Some((to, handle)) = self.requests {
            drop(to);
            let _ = handle.join();
        }
        self.file
    }
}

/// Ask the kernel to start writing `(offset, length)` of `file` to disk, without
/// waiting for it. A failed request costs only the overlap: the final sync still
/// writes it all.
fn request_writeback(file: &File, (offset, len): (u64, u64)) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open file descriptor; it reads and
        // writes no memory of the process.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

impl Writeback {
    fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        if self.synced && self.written - self.started >= WRITEBACK_BYTES {
            self.start_writeback();
        }
    }
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.wrote(n);
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = self.file.write_vectored(bufs)?;
        self.wrote(n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Sink {
    /// Open `dest` (`-` for standard output) for writing.
    pub fn create(dest: &Path) -> io::Result<Sink> {
        Sink::create_with_schema(dest, None)
    }

    /// [`Sink::create`]; a `.parquet` output takes its column types from `schema`
    /// (a Parquet input's) where it has them.
    pub fn create_with_schema(
        dest: &Path,
        schema: Option<arrow_schema::SchemaRef>,
    ) -> io::Result<Sink> {
        if dest.as_os_str() == "-" {
            return Ok(Sink::Stdout(BufWriter::with_capacity(
                1 << 20,
                io::stdout(),
            )));
        }
        // The name as given decides the format; a link is replaced through its target.
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let parquet = crate::columnar::has_parquet_extension(dest);
        let resolved;
        let mut dest = dest;
        if std::fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink())
            && let Ok(target) = std::fs::canonicalize(dest)
        {
            resolved = target;
            dest = &resolved;
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let (file, tmp) = if written_in_place(dest) {
            (std::fs::OpenOptions::new().write(true).open(dest)?, None)
        } else {
            let tmp = create_temporary(|| {
                tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".tmp")
                    .tempfile_in(dir)
            })?;
            let (file, tmp) = tmp.into_parts();
            // Temporary files are created private (0600); the result should have
            // the permissions of the file it replaces, or the usual 0644.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let perms = std::fs::metadata(dest)
                    .map(|m| m.permissions())
                    .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
                file.set_permissions(perms)?;
            }
            (file, Some(tmp))
        };
        if parquet {
            // Rows are spooled beside the output, or in the temporary directory when
            // the output is written in place (its directory may be /dev).
            let rows = match tmp {
                Some(_) => tempfile::tempfile_in(dir)?,
                None => tempfile::tempfile()?,
            };
            return Ok(Sink::Parquet {
                rows: BufWriter::with_capacity(1 << 20, rows),
                file,
                tmp,
                dest: dest.to_path_buf(),
                schema,
            });
        }
        let buf = BufWriter::with_capacity(1 << 20, Writeback::new(file, tmp.is_some()));
        let writer: Box<dyn FinishWrite> = if name.ends_with(".gz") {
            Box::new(flate2::write::GzEncoder::new(
                buf,
                flate2::Compression::default(),
            ))
        } else if name.ends_with(".zst") {
            Box::new(zstd::stream::write::Encoder::new(buf, 3)?)
        } else {
            Box::new(buf)
        };
        Ok(Sink::File {
            writer,
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Flush everything, sync it to disk and move it into place.
    pub fn commit(self) -> io::Result<()> {
        self.sync()?.put_in_place()
    }

    /// Flush everything and sync it to disk, leaving it to be put in place: the first
    /// half of [`Sink::commit`], for a file written beside another one that must
    /// succeed first.
    pub fn sync(self) -> io::Result<Synced> {
        let (file, tmp, dest) = match self {
            Sink::Stdout(mut w) => {
                w.flush()?;
                return Ok(Synced(None));
            }
            Sink::File { writer, tmp, dest } => (writer.finish()?, tmp, dest),
            Sink::Parquet {
                rows,
                file,
                tmp,
                dest,
                schema,
            } => {
                let rows = rows.into_inner().map_err(|e| e.into_error())?;
                let file = crate::columnar::jsonl_to_parquet(rows, file, schema.as_deref())?;
                (file, tmp, dest)
            }
        };
        // A destination written in place (a device or pipe) has nothing to sync or
        // rename.
        let Some(tmp) = tmp else {
            return Ok(Synced(None));
        };
        file.sync_all()?;
        Ok(Synced(Some((tmp, dest))))
    }
}

/// A finished and synced temporary, removed if dropped before it is put in place.
pub struct Synced(Option<(tempfile::TempPath, PathBuf)>);

impl Synced {
    /// Rename the temporary over its destination.
    pub fn put_in_place(self) -> io::Result<()> {
        let Some((tmp, dest)) = self.0 else {
            return Ok(());
        };
        let path = tmp.to_path_buf();
        settle_temporary(&path, || tmp.persist(&dest).map_err(|e| e.error))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(w) => w.write(buf),
            Sink::File { writer, .. } => writer.write(buf),
            Sink::Parquet { rows, .. } => rows.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.write_all(buf),
            Sink::File { writer, .. } => writer.write_all(buf),
            Sink::Parquet { rows, .. } => rows.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::File { writer, .. } => writer.flush(),
            Sink::Parquet { rows, .. } => rows.flush(),
        }
    }
}

impl Sink {
    /// Write every byte of `slices`, in order; to a file without copying them first.
    pub fn write_slices(&mut self, slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        match self {
            Sink::File { writer, .. } => writer.write_slices(slices),
            _ => slices.iter().try_for_each(|s| self.write_all(s)),
        }
    }
}

/// Whether `dest` is written in place rather than through a temporary renamed over it:
/// standard output, or a name that exists and is neither a file nor a directory (a
/// pipe, a device). A symbolic link is judged by what it points to.
pub fn written_in_place(dest: &Path) -> bool {
    dest.as_os_str() == "-" || std::fs::metadata(dest).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Write a whole file atomically from a closure.
pub fn write_atomic(dest: &Path, f: impl FnOnce(&mut Sink) -> io::Result<()>) -> io::Result<()> {
    write_synced(dest, f)?.put_in_place()
}

/// [`write_atomic`] without its last step: the file is written and synced, to be put
/// in place (renamed) by the caller.
pub fn write_synced(
    dest: &Path,
    f: impl FnOnce(&mut Sink) -> io::Result<()>,
) -> io::Result<Synced> {
    let mut sink = Sink::create(dest)?;
    f(&mut sink)?;
    sink.sync()
}

/// Append `,"<field>":<value>` inside a JSON object given as raw bytes, keeping every
/// other byte as it was. `value` must be valid JSON. Returns `None` if `record` does
/// not end in `}`.
pub fn inject_field(record: &[u8], field: &str, value: &str, out: &mut Vec<u8>) -> Option<()> {
    let end = record.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if record[end] != b'}' {
        return None;
    }
    let start = record.iter().position(|b| !b.is_ascii_whitespace())?;
    let inner_empty = record[start + 1..end]
        .iter()
        .all(|b| b.is_ascii_whitespace());
    out.extend_from_slice(&record[..end]);
    if !inner_empty {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&record[end..]);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_keeps_bytes() {
        let mut out = Vec::new();
        inject_field(br#"{"a": 1 }  "#, "d", "null", &mut out).unwrap();
        assert_eq!(out, br#"{"a": 1 ,"d":null}  "#);
        out.clear();
        inject_field(b"{ }", "d", "1", &mut out).unwrap();
        assert_eq!(out, br#"{ "d":1}"#);
        assert!(inject_field(b"[1]", "d", "1", &mut out).is_none());
    }

    #[test]
    fn vectored_writes_resume_after_short_and_interrupted_writes() {
        /// Takes at most 5 bytes a call, across slices, and is interrupted every
        /// third call.
        struct Slow(Vec<u8>, usize);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.write_vectored(&[io::IoSlice::new(buf)])
            }
            fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                self.1 += 1;
                if self.1.is_multiple_of(3) {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let mut room = 5;
                for b in bufs {
                    let n = b.len().min(room);
                    self.0.extend_from_slice(&b[..n]);
                    room -= n;
                }
                Ok(5 - room)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let pieces: [&[u8]; 6] = [b"", b"abc", b"\n", b"", b"defghijklmnop", b"q"];
        let mut slices: Vec<io::IoSlice<'_>> = pieces.iter().map(|p| io::IoSlice::new(p)).collect();
        let mut w = Slow(Vec::new(), 0);
        write_all_vectored(&mut w, &mut slices).unwrap();
        assert_eq!(w.0, b"abc\ndefghijklmnopq");
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        std::fs::write(&p, "old").unwrap();
        let r = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        write_atomic(&p, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        // No temporaries are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
