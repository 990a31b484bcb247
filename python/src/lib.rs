//! `dupstrip._dupstrip`: the engine in process, for `import dupstrip`.
//!
//! The package in `pysrc/dupstrip/` turns keyword options into the command line's
//! flags; this module parses them with the command line's own code (`src/cli/`,
//! included below), so a Python call has the very options, defaults, checks and
//! messages of the binary. Texts are copied once from Python strings or Arrow buffers
//! into one Rust buffer ([`MemoryTexts`]); all work then runs in Rust, across a thread
//! pool of its own, with the GIL released.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::string::PyStringData;
use pyo3::types::{PyList, PyString, PyTuple};
use rayon::prelude::*;

use dupstrip::boilerplate::{Rules, Stripper};
use dupstrip::corpus::{Corpus, MemoryTexts};
use dupstrip::{learn, output, pipeline};

#[path = "../../src/cli/mod.rs"]
#[allow(dead_code)]
mod cli;

pyo3::create_exception!(
    dupstrip,
    DupstripError,
    PyException,
    "An error of dupstrip, with the command line's message (file and line, or option)."
);

/// The command line's message: the error, then each cause.
fn error(e: anyhow::Error) -> PyErr {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        msg.push_str("\n  caused by: ");
        msg.push_str(&cause.to_string());
    }
    DupstripError::new_err(msg)
}

/// A pool of `threads` workers (all cores when `None`), for one call.
fn pool(threads: Option<usize>) -> PyResult<rayon::ThreadPool> {
    if threads == Some(0) {
        return Err(DupstripError::new_err("threads must be at least 1"));
    }
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    b.build()
        .map_err(|e| DupstripError::new_err(format!("cannot start the worker threads: {e}")))
}

/// Texts from the package: a `list` of `str`, or `("arrow", parts)` where each part
/// is `(offsets, data, validity, offset, length, large)`: the buffers of one chunk of
/// a pyarrow `string` or `large_string` array. A null is an empty text. Strings are
/// encoded to UTF-8 on `pool` with the GIL released.
fn texts(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    pool: &rayon::ThreadPool,
) -> PyResult<MemoryTexts> {
    if let Ok(list) = obj.cast::<PyList>() {
        return list_texts(py, list, pool);
    }
    if let Ok(t) = obj.cast::<PyTuple>()
        && t.len() == 2
        && t.get_item(0)?.extract::<String>().ok().as_deref() == Some("arrow")
    {
        return arrow_texts(&t.get_item(1)?);
    }
    Err(PyTypeError::new_err(
        "texts must be a list of str, an iterable of str, or a pyarrow string array",
    ))
}

/// A string's code points as CPython stores them (PEP 393): one, two or four bytes
/// each. Raw, so that they can be read with the GIL released; valid while the string
/// is (the caller holds a reference to every one).
#[derive(Clone, Copy)]
enum Raw {
    One(*const u8, usize),
    Two(*const u16, usize),
    Four(*const u32, usize),
}

// SAFETY: the pointers are read only, into immutable string data that the caller keeps
// alive (a strong reference to each string) until every reader is done.
unsafe impl Send for Raw {}
unsafe impl Sync for Raw {}

/// Append code units (`u8` Latin-1, `u16` UCS-2 or `u32` UCS-4 code points) to `out`
/// as UTF-8; `false` for a value past U+10FFFF (not in a Python string), with nothing
/// appended.
fn encode_units<T: Copy + Into<u32>>(src: &[T], out: &mut Vec<u8>) -> bool {
    out.reserve(4 * src.len());
    let start = out.len();
    let spare = &mut out.spare_capacity_mut()[..4 * src.len()];
    let mut w = 0usize;
    for &unit in src {
        let c: u32 = unit.into();
        if c < 0x80 {
            spare[w].write(c as u8);
            w += 1;
        } else if c < 0x800 {
            spare[w].write(0xC0 | (c >> 6) as u8);
            spare[w + 1].write(0x80 | (c & 0x3F) as u8);
            w += 2;
        } else if c < 0x1_0000 {
            // A lone surrogate (Python strings may hold one: `json.loads` keeps a
            // `\udXXX` escape that way) becomes U+FFFD, as the command line reads
            // such an escape in a JSON Lines file.
            let c = if (0xD800..0xE000).contains(&c) {
                0xFFFD
            } else {
                c
            };
            spare[w].write(0xE0 | (c >> 12) as u8);
            spare[w + 1].write(0x80 | ((c >> 6) & 0x3F) as u8);
            spare[w + 2].write(0x80 | (c & 0x3F) as u8);
            w += 3;
        } else if c < 0x11_0000 {
            spare[w].write(0xF0 | (c >> 18) as u8);
            spare[w + 1].write(0x80 | ((c >> 12) & 0x3F) as u8);
            spare[w + 2].write(0x80 | ((c >> 6) & 0x3F) as u8);
            spare[w + 3].write(0x80 | (c & 0x3F) as u8);
            w += 4;
        } else {
            return false;
        }
    }
    // SAFETY: the first `w` bytes of the spare capacity were written above.
    unsafe { out.set_len(start + w) };
    true
}

/// Append `raw` to `out` as UTF-8; `false` for a value that is not a code point.
fn encode(raw: Raw, out: &mut Vec<u8>) -> bool {
    // SAFETY: see `Raw`.
    unsafe {
        match raw {
            Raw::One(p, n) => {
                let s = std::slice::from_raw_parts(p, n);
                if s.is_ascii() {
                    out.extend_from_slice(s);
                    return true;
                }
                encode_units(s, out)
            }
            Raw::Two(p, n) => encode_units(std::slice::from_raw_parts(p, n), out),
            Raw::Four(p, n) => encode_units(std::slice::from_raw_parts(p, n), out),
        }
    }
}

/// A slice of strings as UTF-8: their bytes, and the length of each.
type Encoded = (Vec<u8>, Vec<usize>);

fn list_texts(
    py: Python<'_>,
    list: &Bound<'_, PyList>,
    pool: &rayon::ThreadPool,
) -> PyResult<MemoryTexts> {
    // Strong references keep every string (and so its data) alive below.
    let mut strings: Vec<Bound<'_, PyString>> = Vec::with_capacity(list.len());
    let mut raws: Vec<Raw> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let s = item.cast_into::<PyString>().map_err(|e| {
            let item = e.into_inner();
            PyTypeError::new_err(format!(
                "texts[{i}] is {}, not str",
                item.get_type().name().map_or("?".into(), |n| n.to_string())
            ))
        })?;
        // SAFETY: the data is read while `strings` holds the string.
        let raw = match unsafe { s.data() }? {
            PyStringData::Ucs1(b) => Raw::One(b.as_ptr(), b.len()),
            PyStringData::Ucs2(b) => Raw::Two(b.as_ptr(), b.len()),
            PyStringData::Ucs4(b) => Raw::Four(b.as_ptr(), b.len()),
        };
        raws.push(raw);
        strings.push(s);
    }
    // Encoded in parallel, in slices of a few thousand strings, then put together in
    // order.
    let parts: Vec<Result<Encoded, usize>> = py.detach(|| {
        pool.install(|| {
            raws.par_chunks(2048)
                .enumerate()
                .map(|(c, chunk)| {
                    let mut buf = Vec::new();
                    let mut lens = Vec::with_capacity(chunk.len());
                    for (j, &raw) in chunk.iter().enumerate() {
                        let before = buf.len();
                        if !encode(raw, &mut buf) {
                            return Err(c * 2048 + j);
                        }
                        lens.push(buf.len() - before);
                    }
                    Ok((buf, lens))
                })
                .collect()
        })
    });
    let total: usize = parts.iter().flatten().map(|p| p.0.len()).sum();
    let mut out = MemoryTexts::with_capacity(raws.len(), total);
    for part in parts {
        let (buf, lens) = part.map_err(|i| {
            PyValueError::new_err(format!(
                "texts[{i}] holds a lone surrogate (not valid Unicode)"
            ))
        })?;
        // Encoded from code points: valid UTF-8 (checked again, at SIMD speed).
        let text = simdutf8::basic::from_utf8(&buf)
            .map_err(|_| PyValueError::new_err("encoding error"))?;
        out.push_concatenated(text, &lens)
            .map_err(PyValueError::new_err)?;
    }
    drop(strings);
    Ok(out)
}

/// The bytes of a buffer-protocol object (a pyarrow `Buffer`), or nothing for `None`.
fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Option<PyBuffer<u8>>> {
    if obj.is_none() {
        return Ok(None);
    }
    let buf = PyBuffer::<u8>::get(obj)?;
    if !buf.is_c_contiguous() {
        return Err(PyTypeError::new_err("an Arrow buffer is not contiguous"));
    }
    Ok(Some(buf))
}

fn slice_of(buf: &Option<PyBuffer<u8>>) -> &[u8] {
    match buf {
        // SAFETY: a contiguous buffer of `len_bytes` bytes, held (and so kept alive and
        // unchanged: pyarrow buffers are immutable) for as long as the slice is used.
        Some(b) if b.len_bytes() > 0 => unsafe {
            std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes())
        },
        Some(_) => &[],
        None => &[],
    }
}

/// Arrow string arrays: the data between the first and last offset is copied at once,
/// after one UTF-8 check; an array whose nulls cover bytes is copied text by text.
fn arrow_texts(parts: &Bound<'_, PyAny>) -> PyResult<MemoryTexts> {
    let parts = parts.cast::<PyList>()?;
    let mut out = MemoryTexts::with_capacity(0, 0);
    let bad = || PyValueError::new_err("malformed Arrow string array");
    for part in parts.iter() {
        let (offsets, data, validity, offset, length, large): (
            Bound<'_, PyAny>,
            Bound<'_, PyAny>,
            Bound<'_, PyAny>,
            usize,
            usize,
            bool,
        ) = part.extract()?;
        let (offsets, data, validity) =
            (bytes_of(&offsets)?, bytes_of(&data)?, bytes_of(&validity)?);
        let (offsets, data, validity) = (slice_of(&offsets), slice_of(&data), slice_of(&validity));
        let width = if large { 8 } else { 4 };
        let at = |i: usize| -> Option<usize> {
            let b = offsets.get(i * width..(i + 1) * width)?;
            let v = if large {
                i64::from_le_bytes(b.try_into().ok()?)
            } else {
                i64::from(i32::from_le_bytes(b.try_into().ok()?))
            };
            usize::try_from(v).ok()
        };
        let valid = |i: usize| {
            validity.is_empty() || validity.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
        };
        if length == 0 {
            continue;
        }
        // Offsets `offset ..= offset + length` must be there.
        if offset
            .checked_add(length)
            .is_none_or(|end| end >= offsets.len() / width)
        {
            return Err(bad());
        }
        let mut lens = Vec::with_capacity(length);
        let mut nulls_with_bytes = false;
        for i in offset..offset + length {
            let (a, b) = (at(i).ok_or_else(bad)?, at(i + 1).ok_or_else(bad)?);
            let n = b.checked_sub(a).ok_or_else(bad)?;
            if !valid(i) {
                nulls_with_bytes |= n > 0;
                lens.push(0);
            } else {
                lens.push(n);
            }
        }
        let (first, last) = (
            at(offset).ok_or_else(bad)?,
            at(offset + length).ok_or_else(bad)?,
        );
        let span = data.get(first..last).ok_or_else(bad)?;
        if !nulls_with_bytes {
            let text = simdutf8::basic::from_utf8(span)
                .map_err(|_| PyValueError::new_err("an Arrow string is not valid UTF-8"))?;
            out.push_concatenated(text, &lens)
                .map_err(PyValueError::new_err)?;
            continue;
        }
        for (k, i) in (offset..offset + length).enumerate() {
            if lens[k] == 0 {
                out.push("");
                continue;
            }
            let a = at(i).ok_or_else(bad)?;
            let bytes = data.get(a..a + lens[k]).ok_or_else(bad)?;
            let text = simdutf8::basic::from_utf8(bytes).map_err(|_| {
                PyValueError::new_err(format!("Arrow string {i} is not valid UTF-8"))
            })?;
            out.push(text);
        }
    }
    Ok(out)
}

/// Run a command line (`["dupstrip", "clean", ...]`) in this process; the report as
/// JSON, for the commands that make one.
#[pyfunction]
#[pyo3(signature = (args, threads=None))]
fn run(py: Python<'_>, args: Vec<String>, threads: Option<usize>) -> PyResult<Option<String>> {
    let pool = pool(threads.or_else(|| cli::embed::threads(&args)))?;
    py.detach(|| pool.install(|| cli::embed::run(args)))
        .map_err(error)
}

/// For each text, the index of the kept text it duplicates, or `None`, under the
/// options of `dupstrip dedup FLAGS`.
#[pyfunction]
#[pyo3(signature = (texts, flags, threads=None))]
fn find_duplicates(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    flags: Vec<String>,
    threads: Option<usize>,
) -> PyResult<Vec<Option<u32>>> {
    let cfg = cli::embed::dedup_config(&flags).map_err(error)?;
    let pool = pool(threads)?;
    let corpus = Corpus::from_memory(self::texts(py, texts, &pool)?, cfg.read.clone());
    py.detach(|| pool.install(|| pipeline::duplicates(&corpus, &cfg)))
        .map_err(|e| error(e.into()))
}

/// Boilerplate rules learned from texts, under the options of `dupstrip boilerplate
/// learn FLAGS`.
#[pyfunction]
#[pyo3(signature = (texts, flags, threads=None))]
fn learn_boilerplate(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    flags: Vec<String>,
    threads: Option<usize>,
) -> PyResult<PyRules> {
    let (cfg, learn_options) = cli::embed::learn_config(&flags).map_err(error)?;
    let pool = pool(threads)?;
    let corpus = Corpus::from_memory(self::texts(py, texts, &pool)?, cfg.read.clone());
    let rules = py
        .detach(|| {
            pool.install(|| {
                let progress = indicatif::ProgressBar::hidden();
                learn::learn_rules(&corpus, &cfg, &learn_options, &progress)
            })
        })
        .map_err(|e| error(e.into()))?;
    Ok(PyRules::new(rules))
}

/// Boilerplate rules: learned (`learn_boilerplate`), or read from a rules file.
#[pyclass(frozen, name = "Rules", module = "dupstrip._dupstrip")]
struct PyRules {
    stripper: Arc<Stripper>,
}

impl PyRules {
    fn new(rules: Rules) -> PyRules {
        PyRules {
            stripper: Arc::new(Stripper::new(rules)),
        }
    }
}

#[pymethods]
impl PyRules {
    /// Read a rules file (`boilerplate learn -o`, `clean --save-rules`, or by hand).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<PyRules> {
        Rules::load(&path)
            .map(PyRules::new)
            .map_err(|e| error(e.into()))
    }

    /// Rules from the text of a rules file.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<PyRules> {
        Rules::parse(text.as_bytes(), "<string>")
            .map(PyRules::new)
            .map_err(|e| error(e.into()))
    }

    /// The rules file's text (versioned JSON).
    fn to_json(&self) -> String {
        self.stripper.rules.to_json()
    }

    /// Write the rules file (atomically).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        output::write_rules(&path, &self.stripper.rules).map_err(|e| error(e.into()))
    }

    /// Each text with the rules' lines removed, as `boilerplate strip` writes it.
    #[pyo3(signature = (texts, threads=None))]
    fn strip(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Vec<String>> {
        let pool = pool(threads)?;
        let texts = self::texts(py, texts, &pool)?;
        let stripper = &self.stripper;
        Ok(py.detach(|| {
            pool.install(|| {
                (0..texts.len())
                    .into_par_iter()
                    .map(|i| {
                        let text = texts.get(i);
                        stripper.strip(text).apply(text).into_owned()
                    })
                    .collect()
            })
        }))
    }

    #[getter]
    fn lines(&self) -> usize {
        self.stripper.rules.lines.len()
    }

    #[getter]
    fn templates(&self) -> usize {
        self.stripper.rules.templates.len()
    }

    #[getter]
    fn markers(&self) -> usize {
        self.stripper.rules.markers.len()
    }

    fn __len__(&self) -> usize {
        self.lines() + self.templates() + self.markers()
    }

    fn __repr__(&self) -> String {
        format!(
            "Rules(lines={}, templates={}, markers={})",
            self.lines(),
            self.templates(),
            self.markers()
        )
    }
}

// Arrow buffers are read as plain byte slices: with the GIL, no other Python thread
// writes to them meanwhile.
#[pymodule(gil_used = true)]
fn _dupstrip(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DupstripError", m.py().get_type::<DupstripError>())?;
    m.add_class::<PyRules>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(find_duplicates, m)?)?;
    m.add_function(wrap_pyfunction!(learn_boilerplate, m)?)?;
    Ok(())
}
