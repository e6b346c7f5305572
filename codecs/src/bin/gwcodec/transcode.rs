//! `encode` and `decode`.

use crate::args::CliError;

pub fn run(cmd: &str, _argv: &[String]) -> Result<(), CliError> {
    Err(CliError::Usage(format!("{cmd}: not available in this build")))
}
