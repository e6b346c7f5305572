//! The local web page and JSON API.
//!
//! - [`status`]: the status model the page and `/api/status` show; the control plane, call
//!   control and registration publish into it through its setters.
//! - [`server`]: the HTTP server (axum) bound to the configured interface only: routes, session
//!   gate, CSRF check, security headers, configuration apply/export/import, restart.
//! - [`auth`]: administrator password (argon2id PHC), sessions, CSRF tokens, login rate limit.
//! - [`logring`]: the bounded in-memory log the log view shows.
//!
//! The page itself (`static/`) is plain HTML, CSS and JavaScript embedded in the binary.

pub mod auth;
pub mod logring;
pub mod server;
pub mod status;
