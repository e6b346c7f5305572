//! SDP emitter: writes a [`SessionDescription`] in RFC 4566 line order with CRLF line ends.

use core::fmt::{self, Display, Write};

use super::parse::{Attribute, Bandwidth, Connection, MediaDescription, SessionDescription};

fn conn(f: &mut impl Write, c: &Connection<'_>) -> fmt::Result {
    write!(f, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address)
}

fn bw(f: &mut impl Write, b: &Bandwidth<'_>) -> fmt::Result {
    write!(f, "b={}:{}\r\n", b.bw_type, b.kbps)
}

fn attr(f: &mut impl Write, a: &Attribute<'_>) -> fmt::Result {
    match &a.value {
        Some(v) => write!(f, "a={}:{}\r\n", a.name, v),
        None => write!(f, "a={}\r\n", a.name),
    }
}

impl MediaDescription<'_> {
    /// Writes this `m=` section.
    pub fn write_to(&self, f: &mut impl Write) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(c) = self.port_count {
            write!(f, "/{c}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.info {
            write!(f, "i={i}\r\n")?;
        }
        for c in &self.connections {
            conn(f, c)?;
        }
        for b in &self.bandwidths {
            bw(f, b)?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            attr(f, a)?;
        }
        Ok(())
    }
}

impl SessionDescription<'_> {
    /// Writes the whole description.
    pub fn write_to(&self, f: &mut impl Write) -> fmt::Result {
        let o = &self.origin;
        f.write_str("v=0\r\n")?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.info {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(u) = &self.uri {
            write!(f, "u={u}\r\n")?;
        }
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            conn(f, c)?;
        }
        for b in &self.bandwidths {
            bw(f, b)?;
        }
        if self.timing.is_empty() {
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.timing {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        if let Some(z) = &self.time_zones {
            write!(f, "z={z}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            attr(f, a)?;
        }
        for m in &self.media {
            m.write_to(f)?;
        }
        Ok(())
    }
}

impl Display for SessionDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}
