//! The `dupstrip` binary: parse options (src/cli/), run the library, map the
//! outcome to an exit code (0 success, 2 error, 0 on a closed output pipe, 130 on
//! Ctrl-C).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Ctrl-C: remove the temporary files of unfinished outputs, exit 130. Finished
    // outputs are already in place; nothing is left half-written under a final name.
    let _ = ctrlc::set_handler(|| {
        // Held to the exit: no thread creates an output after, or fails for it.
        let _interrupted = dupstrip::temporaries::remove_temporaries();
        eprintln!("dupstrip: interrupted");
        std::process::exit(130);
    });
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<dupstrip::error::RunError>()
                    .is_some_and(|r| r.is_broken_pipe())
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("dupstrip: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
