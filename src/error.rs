//! Errors: what can make a run fail?

use std::io;
use std::path::Path;

use crate::corpus::InputError;
use crate::state::{self};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}: the output would overwrite an input")]
    OutputIsInput(String),
    #[error("{0}")]
    Outputs(String),
    #[error("too many records: at most {} documents per run", u32::MAX)]
    TooManyDocuments,
    #[error("cannot spill to a temporary file (--mem-limit; choose where with --tmp-dir): {0}")]
    Spill(io::Error),
    #[error(transparent)]
    State(#[from] state::StateError),
}

pub(crate) fn spill_err(e: io::Error) -> RunError {
    RunError::Spill(e)
}

impl RunError {
    /// True when the error is a closed standard output (`| head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, RunError::Write { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

pub(crate) fn write_err(path: &Path) -> impl FnOnce(io::Error) -> RunError + '_ {
    move |source| RunError::Write {
        path: if path.as_os_str() == "-" {
            "<stdout>".into()
        } else {
            path.display().to_string()
        },
        source,
    }
}
