//! The local web page and JSON API.
//!
//! - [`status`]: the status model the page and `/api/status` show.
//! - [`server`]: the HTTP server (axum) bound to the configured interface only.

pub mod server;
pub mod status;
