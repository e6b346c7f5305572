//! The peer side of a simulated port: what a phone (on an FXS port) or an exchange line (on an
//! FXO port) uses to attach. Blocking I/O; the peer follows the port's clock by answering every
//! AUDIO frame it receives with exactly one frame of its own.

use std::fmt;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::proto::{ErrorCode, Hello, MAX_REASON, Message, Role, read_message, write_message};
use crate::board::PortKind;

/// Why attaching to a port failed.
#[derive(Debug)]
pub enum PeerError {
    Io(io::Error),
    /// The port refused us with an ERROR message.
    Refused {
        code: ErrorCode,
        reason: Box<heapless::String<MAX_REASON>>,
    },
    /// The port answered with something other than HELLO, or a HELLO we cannot use.
    Handshake(&'static str),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Io(e) => write!(f, "{e}"),
            PeerError::Refused { code, reason } => {
                write!(f, "port refused the connection ({code:?}): {reason}")
            }
            PeerError::Handshake(what) => write!(f, "handshake failed: {what}"),
        }
    }
}

impl std::error::Error for PeerError {}

impl From<io::Error> for PeerError {
    fn from(e: io::Error) -> Self {
        PeerError::Io(e)
    }
}

/// Receiving half of a peer connection.
pub struct PeerReader {
    inner: BufReader<TcpStream>,
}

impl PeerReader {
    /// Next message from the port (blocks).
    pub fn recv(&mut self) -> io::Result<Message> {
        read_message(&mut self.inner)
    }

    /// Limits how long [`PeerReader::recv`] may block (`None`: forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.inner.get_ref().set_read_timeout(t)
    }
}

/// Sending half of a peer connection (buffered: call [`PeerWriter::flush`] after each answer).
pub struct PeerWriter {
    inner: BufWriter<TcpStream>,
}

impl PeerWriter {
    pub fn send(&mut self, m: &Message) -> io::Result<()> {
        write_message(&mut self.inner, m)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// Closes the connection in both directions.
    pub fn close(&mut self) {
        let _ = self.send(&Message::error(ErrorCode::Bye, "bye"));
        let _ = self.inner.flush();
        let _ = self.inner.get_ref().shutdown(std::net::Shutdown::Both);
    }
}

/// Connects to the port at `addr` as `role` and exchanges HELLOs.
///
/// Returns the port's HELLO and the two halves of the connection.
pub fn connect(
    addr: SocketAddr,
    role: Role,
    kind: PortKind,
    timeout: Duration,
) -> Result<(Hello, PeerReader, PeerWriter), PeerError> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    let mut writer = PeerWriter {
        inner: BufWriter::new(stream.try_clone()?),
    };
    let mut reader = PeerReader {
        inner: BufReader::new(stream),
    };
    writer.send(&Message::Hello(Hello::new(role, kind, 0)))?;
    writer.flush()?;
    reader.set_timeout(Some(timeout))?;
    let hello = match reader.recv()? {
        Message::Hello(h) => h,
        Message::Error { code, reason } => {
            return Err(PeerError::Refused {
                code,
                reason: Box::new(reason),
            });
        }
        _ => return Err(PeerError::Handshake("first message was not HELLO")),
    };
    if hello.version != super::proto::VERSION {
        return Err(PeerError::Handshake("unsupported protocol version"));
    }
    if hello.role != Role::Port || hello.kind != kind {
        return Err(PeerError::Handshake("not a port of the expected kind"));
    }
    reader.set_timeout(None)?;
    Ok((hello, reader, writer))
}
