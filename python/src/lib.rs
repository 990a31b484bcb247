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
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rayon::prelude::*;

use dupstrip::boilerplate::{Rules, Stripper};
use dupstrip::corpus::{Corpus, MemoryTexts};
use dupstrip::{learn, output, pipeline};

#[path = "../../src/cli/mod.rs"]
#[allow(dead_code)]
mod cli;

pyo3::create_exception!(
    _dupstrip,
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
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    b.build()
        .map_err(|e| DupstripError::new_err(format!("cannot start the worker threads: {e}")))
}

/// Texts from the package: a `list` of `str`, or `("arrow", parts)` where each part
/// is `(offsets, data, validity, offset, length, large)`: the buffers of one chunk of
/// a pyarrow `string` or `large_string` array. A null is an empty text.
fn texts(obj: &Bound<'_, PyAny>) -> PyResult<MemoryTexts> {
    if let Ok(list) = obj.cast::<PyList>() {
        let mut out = MemoryTexts::with_capacity(list.len(), 0);
        for (i, item) in list.iter().enumerate() {
            let s = item.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "texts[{i}] is {}, not str",
                    item.get_type().name().map_or("?".into(), |n| n.to_string())
                ))
            })?;
            out.push(s.to_str()?);
        }
        return Ok(out);
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
        Some(b) => unsafe { std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes()) },
        None => &[],
    }
}

fn arrow_texts(parts: &Bound<'_, PyAny>) -> PyResult<MemoryTexts> {
    let parts = parts.cast::<PyList>()?;
    let mut out = MemoryTexts::with_capacity(0, 0);
    let bad = || PyTypeError::new_err("malformed Arrow string array");
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
        for i in offset..offset + length {
            let valid =
                validity.is_empty() || validity.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1);
            if !valid {
                out.push("");
                continue;
            }
            let (a, b) = (at(i).ok_or_else(bad)?, at(i + 1).ok_or_else(bad)?);
            let bytes = data.get(a..b).ok_or_else(bad)?;
            let text = std::str::from_utf8(bytes).map_err(|_| {
                PyTypeError::new_err(format!("Arrow string {i} is not valid UTF-8"))
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
    let pool = pool(threads)?;
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
    let corpus = Corpus::from_memory(self::texts(texts)?, cfg.read.clone());
    let pool = pool(threads)?;
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
    let corpus = Corpus::from_memory(self::texts(texts)?, cfg.read.clone());
    let pool = pool(threads)?;
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
        let texts = self::texts(texts)?;
        let stripper = &self.stripper;
        let pool = pool(threads)?;
        Ok(py.detach(|| {
            pool.install(|| {
                (0..texts.len())
                    .into_par_iter()
                    .map_init(String::new, |buf, i| {
                        let text = texts.get(i);
                        stripper.strip(text, buf).apply(text).into_owned()
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

#[pymodule]
fn _dupstrip(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DupstripError", m.py().get_type::<DupstripError>())?;
    m.add_class::<PyRules>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(find_duplicates, m)?)?;
    m.add_function(wrap_pyfunction!(learn_boilerplate, m)?)?;
    Ok(())
}
