//! Mapped inputs: how an input's bytes are held during a pass, and let go after it.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::{Corpus, InputError, io_err};

/// Inputs of a group that map at least this much are unmapped by a thread of their
/// own ([`Corpus::unmap_later`]).
const UNMAP_LATER_BYTES: usize = 16 << 20;

/// The bytes of one uncompressed input: a read-only memory map, or an owned buffer
/// for small and empty files.
pub(super) enum Data {
    /// Shared with [`Corpus`]'s `kept`, for a corpus of one input.
    Map(Arc<memmap2::Mmap>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Map(m) => &m[..],
            Data::Owned(v) => v,
        }
    }
}

/// The one place that memory-maps a file.
pub(super) fn map_file(path: &Path) -> Result<Data, InputError> {
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len < 64 * 1024 {
        let mut buf = Vec::with_capacity(len as usize);
        (&file).read_to_end(&mut buf).map_err(io_err(path))?;
        return Ok(Data::Owned(buf));
    }
    // SAFETY: the map is read-only and private to this process. If another process
    // truncates or rewrites the file while it is mapped, reads may see the new bytes
    // or fault (SIGBUS), also while a corpus of one input keeps its map from one pass to
    // the next; dupstrip never writes its inputs, refuses an output path equal to an
    // input, and checks that every pass sees the same number of records. `--no-mmap`
    // avoids the map altogether.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Data::Map(Arc::new(map)))
}

impl Corpus {
    /// Drop the inputs of a group just read. Unmapping a large input takes the
    /// kernel milliseconds (7 ms for 100 MB here: it clears a page table entry a
    /// page), all of it on the thread that drops the map while the others wait for
    /// the next stage; when a group maps [`UNMAP_LATER_BYTES`] or more, a thread of
    /// its own does it instead, while the next stage runs.
    pub(super) fn unmap_later(&self, inputs: Vec<(usize, Data)>) {
        // Buffers read, and maps the corpus also keeps, go at once: only maps held
        // here alone are unmapped by dropping them.
        let maps: Vec<Arc<memmap2::Mmap>> = (inputs.into_iter())
            .filter_map(|(_, d)| match d {
                Data::Map(m) if Arc::strong_count(&m) == 1 => Some(m),
                _ => None,
            })
            .collect();
        if maps.iter().map(|m| m.len()).sum::<usize>() < UNMAP_LATER_BYTES {
            return;
        }
        self.wait_unmapped();
        let thread = std::thread::Builder::new()
            .name("dupstrip-unmap".into())
            .spawn(move || drop(maps));
        // Where no thread can be had, the closure and the maps in it are dropped
        // here.
        if let (Ok(handle), Ok(mut slot)) = (thread, self.unmapping.lock()) {
            *slot = Some(handle);
        }
    }

    /// Input `i` as a pass reads it: mapped, or read when small.
    pub(super) fn map_input(&self, i: usize) -> Result<Data, InputError> {
        let lone = self.files.len() == 1;
        if lone && let Some(map) = self.kept.lock().ok().and_then(|k| k.clone()) {
            return Ok(Data::Map(map));
        }
        let data = map_file(&self.files[i])?;
        if lone
            && let Data::Map(map) = &data
            && let Ok(mut k) = self.kept.lock()
        {
            *k = Some(map.clone());
        }
        Ok(data)
    }

    /// Let the map kept between passes go, after the last pass that reads the
    /// input: it is unmapped by a thread of its own while the run finishes. A pass
    /// after this maps the input again.
    pub fn release_input(&self) {
        let map = self.kept.lock().ok().and_then(|mut k| k.take());
        if let Some(map) = map {
            self.unmap_later(vec![(0, Data::Map(map))]);
        }
    }

    /// Wait until the inputs given to [`Corpus::unmap_later`] are unmapped.
    pub(super) fn wait_unmapped(&self) {
        let handle = self.unmapping.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}
