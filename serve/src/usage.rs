//! A usage or configuration error: one line on stderr, exit code 2 (as clap's own).

use std::process::ExitCode;

/// Exit code for a usage or configuration error.
pub const USAGE: u8 = 2;

/// What went wrong, in words for the operator.
#[derive(Debug)]
pub struct UsageError(pub String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

/// The process's exit: success, or the error printed after the program's name.
pub fn exit(program: &str, result: Result<(), UsageError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(UsageError(message)) => {
            eprintln!("{program}: {message}");
            ExitCode::from(USAGE)
        }
    }
}
