//! The PROXY protocol header (v1 text, v2 binary) a load balancer sends
//! before the client's bytes (docs/PROTOCOL.md §6): which connections owe
//! one ([`ProxyOptions::owes_header`]), and a sans-IO [`HeaderReader`]
//! that gathers it from the socket's first reads, bounded in size
//! ([`MAX_HEADER`]) and in time (the deadline passed in), and tells the
//! client's real address. Parsing is the `ppp` crate's (v2 by
//! [`v2::Header`], v1 by [`v1::Header`] once its line is complete).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use ppp::{v1, v2, PartialResult};

/// Most bytes a header may take (a v2 header with its TLVs); a v1 header
/// takes at most [`MAX_V1`].
pub const MAX_HEADER: usize = 4096;

/// Most bytes of a v1 (text) header, its CRLF included.
pub const MAX_V1: usize = 107;

/// The text header's first bytes.
const V1_PREFIX: &[u8] = b"PROXY ";

/// When the PROXY protocol is on (`--proxy-protocol`): which peers must
/// begin their connection with a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// Only connections from these networks owe a header (`--proxy-from`);
    /// others are served as direct clients. Empty: every connection owes
    /// one.
    pub from: Vec<IpNet>,
}

impl ProxyOptions {
    /// Whether a connection from `ip` must begin with a PROXY header.
    /// An IPv4 client seen on an IPv6 socket (`::ffff:a.b.c.d`) matches
    /// IPv4 networks.
    ///
    /// ```
    /// use hftp_server::ProxyOptions;
    ///
    /// let options = ProxyOptions { from: vec!["10.0.0.0/8".parse().unwrap()] };
    /// assert!(options.owes_header("10.1.2.3".parse().unwrap()));
    /// assert!(options.owes_header("::ffff:10.1.2.3".parse().unwrap()));
    /// assert!(!options.owes_header("192.0.2.1".parse().unwrap()));
    /// assert!(ProxyOptions::default().owes_header("192.0.2.1".parse().unwrap()));
    /// ```
    pub fn owes_header(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.from.is_empty() || self.from.iter().any(|net| net.contains(&ip))
    }
}

/// What a [`HeaderReader`] made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The header is not complete yet.
    NeedMore,
    /// The header is complete.
    Done {
        /// The client's address from the header; `None` for v2 LOCAL, v1
        /// UNKNOWN and non-IP families: the socket's peer stands.
        source: Option<SocketAddr>,
        /// How many bytes of the last input the header took; the rest
        /// belong to the next stage.
        used: usize,
    },
    /// No valid header can come of these bytes: the connection closes.
    Invalid(Invalid),
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The first bytes are neither a v1 nor a v2 header.
    #[error("no PROXY protocol header (is the load balancer set to send one?)")]
    Missing,
    /// A header that does not parse.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// Longer than the limit.
    #[error("PROXY protocol header longer than {0} bytes")]
    Oversized(usize),
    /// Not complete within the request timeout.
    #[error("PROXY protocol header not complete within {0:?}")]
    Late(Duration),
    /// The peer closed before the header was complete.
    #[error("connection closed before its PROXY protocol header was complete")]
    Closed,
}

/// Gathers one connection's PROXY header, bounded to [`MAX_HEADER`]
/// bytes and to a deadline.
#[derive(Debug)]
pub struct HeaderReader {
    buf: Vec<u8>,
    deadline: Instant,
    timeout: Duration,
}

impl HeaderReader {
    /// A reader for a connection accepted at `now` whose header must be
    /// complete within `timeout`.
    pub fn new(now: Instant, timeout: Duration) -> Self {
        HeaderReader {
            buf: Vec::new(),
            deadline: now + timeout,
            timeout,
        }
    }

    /// Bytes held while the header is incomplete (at most [`MAX_HEADER`]).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next bytes read from the socket. After `Done` or
    /// `Invalid`, the reader is not to be fed again.
    pub fn handle_input(&mut self, input: &[u8]) -> Progress {
        let before = self.buf.len();
        let take = input.len().min(MAX_HEADER - before);
        self.buf.extend_from_slice(&input[..take]);
        match self.parse() {
            Progress::Done { source, used } => Progress::Done {
                source,
                used: used - before,
            },
            Progress::NeedMore if self.buf.len() >= MAX_HEADER => {
                Progress::Invalid(Invalid::Oversized(MAX_HEADER))
            }
            other => other,
        }
    }

    /// The peer closed its side before the header was complete.
    pub fn handle_eof(&mut self) -> Invalid {
        if self.buf.is_empty() {
            Invalid::Missing
        } else {
            Invalid::Closed
        }
    }

    /// When the header must be complete.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline
    }

    /// Whether the header is late at `now` (the connection then closes
    /// with [`Invalid::Late`], see [`HeaderReader::late`]).
    pub fn handle_timeout(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// Why a late connection closes.
    pub fn late(&self) -> Invalid {
        Invalid::Late(self.timeout)
    }

    /// Parses what is held; `used` counts from the start of the buffer.
    fn parse(&self) -> Progress {
        let buf = &self.buf[..];
        if buf.is_empty() {
            return Progress::NeedMore;
        }
        if buf[0] == b'P' {
            return self.parse_v1();
        }
        let result = v2::Header::try_from(buf);
        match result {
            Ok(header) => Progress::Done {
                source: v2_source(&header),
                used: header.header.len(),
            },
            result if result.is_incomplete() => {
                // A v2 header announces its length up front.
                if buf.len() >= 16 {
                    let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
                    if len > MAX_HEADER {
                        return Progress::Invalid(Invalid::Oversized(MAX_HEADER));
                    }
                }
                Progress::NeedMore
            }
            Err(v2::ParseError::Prefix) => Progress::Invalid(Invalid::Missing),
            Err(e) => Progress::Invalid(Invalid::Malformed(e.to_string())),
        }
    }

    /// A text header is parsed once its line is complete: until then only
    /// its prefix is checked (a partial address does not parse).
    fn parse_v1(&self) -> Progress {
        let buf = &self.buf[..];
        let common = buf.len().min(V1_PREFIX.len());
        if buf[..common] != V1_PREFIX[..common] {
            return Progress::Invalid(Invalid::Missing);
        }
        let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
            return if buf.len() >= MAX_V1 {
                Progress::Invalid(Invalid::Oversized(MAX_V1))
            } else {
                Progress::NeedMore
            };
        };
        let line = &buf[..=lf];
        if line.len() > MAX_V1 {
            return Progress::Invalid(Invalid::Oversized(MAX_V1));
        }
        match v1::Header::try_from(line) {
            Ok(header) if header.header.len() == line.len() => Progress::Done {
                source: match header.addresses {
                    v1::Addresses::Tcp4(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    v1::Addresses::Tcp6(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    v1::Addresses::Unknown => None,
                },
                used: line.len(),
            },
            Ok(_) => Progress::Invalid(Invalid::Malformed("a lone CR in the line".into())),
            Err(e) => Progress::Invalid(Invalid::Malformed(e.to_string())),
        }
    }
}

/// The source address of a v2 header: the client's for PROXY over IP.
fn v2_source(header: &v2::Header<'_>) -> Option<SocketAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match header.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests;
