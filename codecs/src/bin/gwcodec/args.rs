//! Argument parsing shared by the subcommands, and the tool's error type.

use std::fmt;
use std::path::PathBuf;

use codecs::wav::AudioFileError;

#[derive(Debug)]
pub enum CliError {
    /// The command line itself is wrong.
    Usage(String),
    /// An input or output file could not be used.
    Audio { path: PathBuf, err: AudioFileError },
    /// An input file was readable but its content is invalid for the operation.
    Input { path: PathBuf, why: String },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            CliError::Audio { path, err } => write!(f, "{}: {err}", path.display()),
            CliError::Input { path, why } => write!(f, "{}: {why}", path.display()),
        }
    }
}

/// Options (`--name value` or `--flag`) and positional arguments of one subcommand.
pub struct Args {
    opts: Vec<(String, Option<String>)>,
    pub positional: Vec<String>,
}

impl Args {
    /// Splits `argv`; `flags` lists the options that take no value.
    pub fn parse(argv: &[String], flags: &[&str]) -> Result<Args, CliError> {
        let mut opts = Vec::new();
        let mut positional = Vec::new();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                if let Some((n, v)) = name.split_once('=') {
                    opts.push((n.to_string(), Some(v.to_string())));
                } else if flags.contains(&name) {
                    opts.push((name.to_string(), None));
                } else {
                    let v = it
                        .next()
                        .ok_or_else(|| CliError::Usage(format!("--{name} needs a value")))?;
                    opts.push((name.to_string(), Some(v.clone())));
                }
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args { opts, positional })
    }

    pub fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn required(&self, name: &str) -> Result<&str, CliError> {
        self.opt(name)
            .ok_or_else(|| CliError::Usage(format!("missing --{name}")))
    }

    /// Rejects options other than `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), CliError> {
        match self.opts.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            Some((n, _)) => Err(CliError::Usage(format!("unknown option --{n}"))),
            None => Ok(()),
        }
    }

    /// Exactly `n` positional arguments, named in `what` for the error message.
    pub fn positionals(&self, what: &[&str]) -> Result<Vec<PathBuf>, CliError> {
        if self.positional.len() != what.len() {
            return Err(CliError::Usage(format!(
                "expected {} ({}), got {} argument(s)",
                what.len(),
                what.join(" "),
                self.positional.len()
            )));
        }
        Ok(self.positional.iter().map(PathBuf::from).collect())
    }
}
