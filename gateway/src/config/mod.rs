//! The configuration model: one typed tree for everything a user can set, stored as TOML.
//!
//! - [`model`]: the serde types and their defaults.
//! - [`validate`]: checks beyond types (cross references, ranges), each error naming its key path.
//! - [`store`]: atomic saves that keep the previous version.
//! - [`board`]: board definitions (`board/boards/*.toml`): ports and their HAL backends.
//!
//! Loading rejects unknown keys and bad values with the exact key path (`port[1].country`) and
//! the reason, so `gatewayd --check-config FILE` and the web page can show them to the user.

pub mod board;
pub mod model;
pub mod store;
pub mod validate;

pub use model::*;
pub use validate::{ConfigError, ConfigErrors};

/// Parses and validates a configuration file's text.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let de = toml::Deserializer::new(text);
    let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.span().map(|s| line_of(text, s.start));
        ConfigErrors(vec![ConfigError {
            path: normalise_path(&path),
            line,
            message: inner.message().to_string(),
        }])
    })?;
    validate::validate(&cfg)?;
    Ok(cfg)
}

/// Emits a configuration as TOML (the exact form that is stored and exported).
pub fn emit(cfg: &Config) -> String {
    // Serialising plain data structs to TOML cannot fail: every field is a TOML-representable type.
    toml::to_string_pretty(cfg).unwrap_or_default()
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// serde_path_to_error writes sequence indices as `port[1]`-style already; the root is `.`.
fn normalise_path(p: &str) -> String {
    if p == "." { String::new() } else { p.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_round_trips() {
        let cfg = Config::default_for_sim();
        let text = emit(&cfg);
        let back = parse(&text).expect("default config must be valid");
        assert_eq!(back, cfg);
    }

    #[test]
    fn unknown_key_is_reported_with_its_path() {
        let text = "[[port]]\nid = 0\nkind = \"fxs\"\ncountri = \"US\"\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.0[0].path, "port[0].countri");
        assert!(err.0[0].message.contains("unknown field"), "{}", err.0[0].message);
    }

    #[test]
    fn bad_value_is_reported_with_its_path() {
        let text = "[network]\nsip_transport = \"carrier-pigeon\"\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.0[0].path, "network.sip_transport");
        assert_eq!(err.0[0].line, Some(2));
    }
}
