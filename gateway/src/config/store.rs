//! Saving the configuration so that a power cut at any instant leaves either the old or the new
//! file, never a torn one: write a temporary file, fsync it, keep the current file as `.prev`
//! (a hard link, so the live name never disappears), rename the temporary over the live name,
//! fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Config, ConfigErrors, emit, parse};

#[derive(Debug)]
pub enum StoreError {
    Io { path: PathBuf, err: io::Error },
    Invalid { path: PathBuf, errors: ConfigErrors },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            StoreError::Invalid { path, errors } => write!(f, "{}:\n{errors}", path.display()),
        }
    }
}

impl std::error::Error for StoreError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |err| StoreError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// Where the configuration lives, and its previous version beside it.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
}

impl ConfigStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConfigStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn previous_path(&self) -> PathBuf {
        sibling(&self.path, "prev")
    }

    fn temp_path(&self) -> PathBuf {
        sibling(&self.path, "tmp")
    }

    /// Loads the configuration. A missing file is `Ok(None)`; a file that does not validate is an
    /// error naming every problem (the caller decides whether to fall back to `.prev`).
    pub fn load(&self) -> Result<Option<Config>, StoreError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => parse(&text).map(Some).map_err(|errors| StoreError::Invalid {
                path: self.path.clone(),
                errors,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io {
                path: self.path.clone(),
                err: e,
            }),
        }
    }

    /// Loads the configuration, falling back to the previous version if the current one is
    /// unreadable. Returns which file was used.
    pub fn load_or_previous(&self) -> Result<Option<(Config, PathBuf)>, StoreError> {
        match self.load() {
            Ok(Some(c)) => Ok(Some((c, self.path.clone()))),
            Ok(None) => Ok(None),
            Err(first) => {
                let prev = ConfigStore::new(self.previous_path());
                match prev.load() {
                    Ok(Some(c)) => Ok(Some((c, prev.path))),
                    _ => Err(first),
                }
            }
        }
    }

    /// Atomically replaces the stored configuration with `cfg`, keeping the old one as `.prev`.
    pub fn save(&self, cfg: &Config) -> Result<(), StoreError> {
        self.save_text(&emit(cfg))
    }

    /// Atomically stores already-validated TOML text.
    pub fn save_text(&self, text: &str) -> Result<(), StoreError> {
        let tmp = self.temp_path();
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        if self.path.exists() {
            let prev = self.previous_path();
            let prev_tmp = sibling(&self.path, "prev.tmp");
            let _ = fs::remove_file(&prev_tmp);
            // Link then rename: `.prev` is always a complete file too.
            fs::hard_link(&self.path, &prev_tmp)
                .or_else(|_| fs::copy(&self.path, &prev_tmp).map(|_| ()))
                .map_err(io_err(&prev_tmp))?;
            fs::rename(&prev_tmp, &prev).map_err(io_err(&prev))?;
        }
        fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))?;
        Ok(())
    }
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_keeps_previous_version() {
        let dir = std::env::temp_dir().join(format!("gw-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = ConfigStore::new(dir.join("gateway.toml"));
        assert!(store.load().unwrap().is_none());
        let mut a = Config::default_for_sim();
        store.save(&a).unwrap();
        a.ports[0].country = "DE".into();
        store.save(&a).unwrap();
        assert_eq!(store.load().unwrap().unwrap().ports[0].country, "DE");
        let prev = ConfigStore::new(store.previous_path()).load().unwrap().unwrap();
        assert_eq!(prev.ports[0].country, "US");
        fs::write(store.path(), "garbage = [").unwrap();
        let (cfg, used) = store.load_or_previous().unwrap().unwrap();
        assert_eq!(used, store.previous_path());
        assert_eq!(cfg.ports[0].country, "US");
        let _ = fs::remove_dir_all(&dir);
    }
}
