//! SIP-T (RFC 3372) and SIP-I (ITU-T Q.1912.5) trunks: ISUP carried in SIP bodies.
//!
//! - [`isup`]: ISUP message codec (Q.763 / ANSI T1.113): zero-copy view, value types, emitter.
//! - [`mime`]: SIP bodies carrying ISUP (RFC 3204): building multipart/mixed bodies, finding
//!   the SDP and ISUP parts of received ones, `handling=required` rules and 415 answers.
//! - [`interwork`]: RFC 3398 / Q.1912.5 mappings between call events and ISUP: the IAM of an
//!   outgoing call, call progress from ACM/CPG/ANM/CON, cause <-> SIP status, SUS/RES.
//! - [`profile`]: what each account trunk profile (plain SIP, SIP-T, SIP-I) puts on the wire.

pub mod interwork;
pub mod isup;
pub mod mime;
pub mod profile;
