//! `tone`, `dtmf-detect`, `cid-encode` and `cid-decode`.

use crate::args::CliError;

pub fn run(cmd: &str, _argv: &[String]) -> Result<(), CliError> {
    Err(CliError::Usage(format!("{cmd}: not available in this build")))
}
