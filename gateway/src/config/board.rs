//! Board definitions: the data in `board/boards/*.toml` saying which ports a board has and
//! which HAL backend drives each.

use serde::{Deserialize, Serialize};

use super::model::PortKind;
use super::validate::{ConfigError, ConfigErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A loopback TCP socket speaking the simulation protocol.
    Sim,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardPort {
    pub kind: PortKind,
    pub backend: Backend,
    /// For `sim`: the loopback TCP port the line listens on (0 picks a free one).
    #[serde(default)]
    pub tcp_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "port")]
    pub ports: Vec<BoardPort>,
}

/// The simulated board `make run` uses, from the same file the board directory ships.
pub const SIM_BOARD: &str = include_str!("../../../board/boards/sim.toml");

impl BoardDef {
    pub fn parse(text: &str) -> Result<BoardDef, ConfigErrors> {
        let de = toml::Deserializer::new(text);
        let def: BoardDef = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ConfigErrors(vec![ConfigError {
                path,
                line: None,
                message: e.into_inner().message().to_string(),
            }])
        })?;
        if def.ports.is_empty() || def.ports.len() > 32 {
            return Err(ConfigErrors(vec![ConfigError {
                path: "port".into(),
                line: None,
                message: "a board has between 1 and 32 ports".into(),
            }]));
        }
        Ok(def)
    }

    pub fn sim() -> BoardDef {
        // The shipped file is checked by a test below; failing here would be a build defect.
        BoardDef::parse(SIM_BOARD).unwrap_or_else(|e| panic!("board/boards/sim.toml: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sim_board_parses() {
        let b = BoardDef::sim();
        let kinds: Vec<PortKind> = b.ports.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PortKind::Fxs, PortKind::Fxs, PortKind::Fxo]);
    }

    #[test]
    fn unknown_backend_is_rejected() {
        let e = BoardDef::parse("name='x'\n[[port]]\nkind='fxs'\nbackend='magic'\n").unwrap_err();
        assert_eq!(e.0[0].path, "port[0].backend");
    }
}
