//! Syslog (RFC 5424) over UDP (RFC 5426: one message per datagram, size limit honoured), TCP
//! (RFC 6587: octet counting by default, LF framing as an option), TLS (RFC 5425, rustls:
//! CA file, client certificate, server-name verification always on) or RELP (rsyslog's
//! Reliable Event Logging Protocol: every message acknowledged by the receiver, so a batch
//! counts as delivered only when the receiver has it), reconnecting with backoff.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`: PRI from the facility and the
//! event's severity, TIMESTAMP the event time (µs, UTC), MSGID the event name cut to 32, MSG the
//! encoded record (CEF or JSON, which never contain a raw line break).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::{Batch, RecordMeta, Sink, SinkError};
use crate::model::time;
pub use crate::tls::{tls_config, TlsOptions};

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// TCP inside TLS (rustls; RFC 5425).
    Tls,
    /// RELP over TCP: each message acknowledged.
    Relp,
}

/// How TCP messages are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `LEN SP MSG` (RFC 6587 §3.4.1): any byte may appear in the message.
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2): the message must not contain LF.
    Lf,
}

/// Syslog settings, from a URL such as
/// `syslog+tcp://siem.example:6514?framing=lf&facility=13&hostname=gitlab-audit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    pub framing: Framing,
    /// Facility 0–23 (default 13, "log audit").
    pub facility: u8,
    pub hostname: String,
    /// Largest UDP datagram (default 2048 bytes); longer messages are cut.
    pub max_datagram: usize,
    pub tls: TlsOptions,
}

/// Syslog URL problems.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyslogUrlError {
    #[error("{0:?} is not a syslog URL; write syslog+udp://, syslog+tcp://, syslog+tls:// or syslog+relp://HOST:PORT[?framing=lf|octet&facility=N&hostname=NAME]")]
    Syntax(String),
    #[error("syslog URL {url:?}: {problem}")]
    Option { url: String, problem: String },
}

impl SyslogConfig {
    pub fn parse(url: &str) -> Result<SyslogConfig, SyslogUrlError> {
        let syntax = || SyslogUrlError::Syntax(url.to_string());
        let (scheme, rest) = url.split_once("://").ok_or_else(syntax)?;
        let transport = match scheme {
            "syslog+udp" | "udp" => Transport::Udp,
            "syslog+tcp" | "syslog" | "tcp" => Transport::Tcp,
            "syslog+tls" | "tls" => Transport::Tls,
            "syslog+relp" | "relp" => Transport::Relp,
            _ => return Err(syntax()),
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (host, port) = authority.rsplit_once(':').ok_or_else(syntax)?;
        let port: u16 = port.parse().map_err(|_| syntax())?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(syntax());
        }
        let mut cfg = SyslogConfig {
            transport,
            host,
            port,
            framing: Framing::OctetCounting,
            facility: 13,
            hostname: local_hostname(),
            max_datagram: 2048,
            tls: TlsOptions::default(),
        };
        let bad = |problem: String| SyslogUrlError::Option { url: url.to_string(), problem };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| bad(format!("{pair:?} is not KEY=VALUE")))?;
            match k {
                "framing" => {
                    cfg.framing = match v {
                        "octet" | "octet-counting" => Framing::OctetCounting,
                        "lf" => Framing::Lf,
                        _ => return Err(bad(format!("framing {v:?}: use octet or lf"))),
                    }
                }
                "facility" => {
                    cfg.facility = v
                        .parse()
                        .ok()
                        .filter(|f| *f <= 23)
                        .ok_or_else(|| bad(format!("facility {v:?}: use 0 to 23")))?
                }
                "hostname" => cfg.hostname = sanitize(v, 255),
                "max_datagram" => {
                    cfg.max_datagram = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 480)
                        .ok_or_else(|| bad(format!("max_datagram {v:?}: at least 480")))?
                }
                "ca" => cfg.tls.ca_file = Some(v.to_string()),
                "cert" => cfg.tls.cert_file = Some(v.to_string()),
                "key" => cfg.tls.key_file = Some(v.to_string()),
                "server_name" => cfg.tls.server_name = Some(v.to_string()),
                other => {
                    return Err(bad(format!(
                        "unknown option {other:?} (framing, facility, hostname, max_datagram; for TLS ca, cert, key, server_name)"
                    )))
                }
            }
        }
        let tls_opts = [&cfg.tls.ca_file, &cfg.tls.cert_file, &cfg.tls.key_file, &cfg.tls.server_name];
        if cfg.transport != Transport::Tls && tls_opts.iter().any(|o| o.is_some()) {
            return Err(bad("ca, cert, key and server_name need syslog+tls://".into()));
        }
        if cfg.tls.cert_file.is_some() != cfg.tls.key_file.is_some() {
            return Err(bad("a client certificate needs both cert and key".into()));
        }
        Ok(cfg)
    }
}

/// Printable ASCII only, at most `max` bytes; `-` when nothing is left (RFC 5424 NILVALUE).
fn sanitize(s: &str, max: usize) -> String {
    let out: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if out.is_empty() {
        "-".into()
    } else {
        out
    }
}

fn local_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    sanitize(name.trim(), 255)
}

/// Syslog severity (0 emergency … 7 debug) from the 0–10 event severity.
pub fn syslog_severity(severity: u8) -> u8 {
    match severity {
        9..=10 => 2,
        7..=8 => 3,
        5..=6 => 4,
        3..=4 => 5,
        _ => 6,
    }
}

/// Write one RFC 5424 message (without framing).
pub fn format_message(out: &mut Vec<u8>, cfg: &SyslogConfig, meta: &RecordMeta, msg: &[u8]) {
    let pri = cfg.facility as u32 * 8 + syslog_severity(meta.severity) as u32;
    write!(
        out,
        "<{pri}>1 {} {} compliance-report {} {} - ",
        time::format(&meta.time),
        cfg.hostname,
        std::process::id(),
        meta.msgid()
    )
    .expect("writing to a Vec cannot fail");
    out.extend_from_slice(msg);
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Relp(super::relp::Session),
}

pub struct SyslogSink {
    cfg: SyslogConfig,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    conn: Option<Conn>,
    buf: Vec<u8>,
    /// Attempts to (re)connect and re-send a batch before giving up.
    attempts: u32,
    truncated: u64,
    retries: u64,
}

impl SyslogSink {
    /// A sink for `cfg`; TLS settings (CA and client certificate files) are read here.
    pub fn new(cfg: SyslogConfig) -> Result<SyslogSink, String> {
        let tls = match cfg.transport {
            Transport::Tls => Some(tls_config(&cfg.tls)?),
            _ => None,
        };
        Ok(SyslogSink { cfg, tls, conn: None, buf: Vec::with_capacity(1 << 20), attempts: 5, truncated: 0, retries: 0 })
    }

    fn connect(&self) -> std::io::Result<Conn> {
        let addr = (self.cfg.host.as_str(), self.cfg.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "host has no address"))?;
        Ok(match self.cfg.transport {
            Transport::Udp => {
                let bind = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let s = UdpSocket::bind(bind)?;
                s.connect(addr)?;
                Conn::Udp(s)
            }
            Transport::Tcp | Transport::Tls | Transport::Relp => {
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
                s.set_nodelay(true)?;
                s.set_write_timeout(Some(Duration::from_secs(30)))?;
                s.set_read_timeout(Some(Duration::from_secs(30)))?;
                if self.cfg.transport == Transport::Relp {
                    return Ok(Conn::Relp(super::relp::Session::open(s)?));
                }
                match &self.tls {
                    None => Conn::Tcp(s),
                    Some(config) => {
                        let name = self.cfg.tls.server_name.clone().unwrap_or_else(|| self.cfg.host.clone());
                        let server = rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("server name {name:?}: {e}"))
                        })?;
                        let tls =
                            rustls::ClientConnection::new(config.clone(), server).map_err(std::io::Error::other)?;
                        let mut stream = rustls::StreamOwned::new(tls, s);
                        // Complete the handshake now, so certificate problems surface as connect errors.
                        while stream.conn.is_handshaking() {
                            stream.conn.complete_io(&mut stream.sock)?;
                        }
                        Conn::Tls(Box::new(stream))
                    }
                }
            }
        })
    }

    /// Send the whole batch once over the current connection.
    fn send_once(&mut self, batch: &Batch) -> std::io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let mut msg = Vec::with_capacity(4096);
        match self.conn.as_mut().expect("connected above") {
            Conn::Udp(sock) => {
                for (record, meta) in batch.records_meta() {
                    msg.clear();
                    format_message(&mut msg, &self.cfg, meta, record);
                    if msg.len() > self.cfg.max_datagram {
                        let mut end = self.cfg.max_datagram;
                        while end > 0 && (msg[end] & 0xC0) == 0x80 {
                            end -= 1;
                        }
                        msg.truncate(end);
                        self.truncated += 1;
                    }
                    sock.send(&msg)?;
                }
            }
            Conn::Relp(session) => {
                let messages = batch.records_meta().map(|(record, meta)| {
                    let mut m = Vec::with_capacity(record.len() + 96);
                    format_message(&mut m, &self.cfg, meta, record);
                    m
                });
                session.send_all(messages)?;
            }
            conn @ (Conn::Tcp(_) | Conn::Tls(_)) => {
                self.buf.clear();
                for (record, meta) in batch.records_meta() {
                    msg.clear();
                    format_message(&mut msg, &self.cfg, meta, record);
                    match self.cfg.framing {
                        Framing::OctetCounting => {
                            write!(self.buf, "{} ", msg.len()).expect("Vec write");
                            self.buf.extend_from_slice(&msg);
                        }
                        Framing::Lf => {
                            // Records never hold a raw LF; keep the guarantee if one ever does.
                            self.buf.extend(msg.iter().map(|b| if *b == b'\n' { b' ' } else { *b }));
                            self.buf.push(b'\n');
                        }
                    }
                }
                match conn {
                    Conn::Tcp(stream) => {
                        stream.write_all(&self.buf)?;
                        stream.flush()?;
                    }
                    Conn::Tls(stream) => {
                        stream.write_all(&self.buf)?;
                        stream.flush()?;
                    }
                    Conn::Udp(_) | Conn::Relp(_) => unreachable!("matched above"),
                }
            }
        }
        Ok(())
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> String {
        let t = match self.cfg.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Relp => "relp",
        };
        format!("syslog+{t}://{}:{}", self.cfg.host, self.cfg.port)
    }

    fn retries(&self) -> u64 {
        self.retries
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(Conn::Relp(session)) = self.conn.take() {
            session.close();
        }
        Ok(())
    }

    /// At least once: on a connection error the connection is rebuilt (0.5 s, 1 s, 2 s … apart)
    /// and the whole batch is sent again, so a receiver may see a batch's head twice. TLS
    /// verification failures are not retried.
    fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let mut wait = Duration::from_millis(500);
        let mut last = None;
        for attempt in 0..self.attempts {
            match self.send_once(batch) {
                Ok(()) => {
                    if self.truncated > 0 {
                        tracing::warn!(
                            "{} syslog messages were cut to {} bytes to fit a UDP datagram",
                            self.truncated,
                            self.cfg.max_datagram
                        );
                        self.truncated = 0;
                    }
                    return Ok(());
                }
                Err(e) => {
                    self.conn = None;
                    // TLS verification and bad names will not fix themselves: no retry.
                    let permanent =
                        matches!(e.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput);
                    if permanent {
                        return Err(SinkError::Io {
                            action: "cannot deliver to",
                            path: self.name(),
                            written: 0,
                            source: e,
                        });
                    }
                    if attempt + 1 < self.attempts {
                        tracing::warn!("{}: {e}; reconnecting in {wait:?}", self.name());
                        std::thread::sleep(wait);
                        self.retries += 1;
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                    last = Some(e);
                }
            }
        }
        Err(SinkError::Io {
            action: "cannot deliver to",
            path: self.name(),
            written: 0,
            source: last.expect("at least one attempt"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = SyslogConfig::parse("syslog+tcp://siem.example:6514?framing=lf&facility=4&hostname=gl audit").unwrap();
        assert_eq!(
            (c.transport, c.host.as_str(), c.port, c.framing, c.facility, c.hostname.as_str()),
            (Transport::Tcp, "siem.example", 6514, Framing::Lf, 4, "glaudit")
        );
        let c = SyslogConfig::parse("syslog+relp://siem.example:2514").unwrap();
        assert_eq!((c.transport, c.port), (Transport::Relp, 2514));
        let c = SyslogConfig::parse("syslog+udp://[::1]:514").unwrap();
        assert_eq!((c.transport, c.host.as_str(), c.framing), (Transport::Udp, "::1", Framing::OctetCounting));
        assert!(matches!(SyslogConfig::parse("syslog+tcp://host"), Err(SyslogUrlError::Syntax(_))));
        assert!(SyslogConfig::parse("syslog+tcp://h:1?facility=30").unwrap_err().to_string().contains("use 0 to 23"));
        let c = SyslogConfig::parse("syslog+tls://siem:6514?ca=/etc/ca.pem&server_name=siem.internal").unwrap();
        assert_eq!(
            (c.transport, c.tls.ca_file.as_deref(), c.tls.server_name.as_deref()),
            (Transport::Tls, Some("/etc/ca.pem"), Some("siem.internal"))
        );
        assert!(SyslogConfig::parse("syslog+tcp://h:1?ca=/x").unwrap_err().to_string().contains("need syslog+tls"));
        assert!(SyslogConfig::parse("syslog+tls://h:1?cert=/x").unwrap_err().to_string().contains("both cert and key"));
    }

    #[test]
    fn exact_message_bytes() {
        let cfg = SyslogConfig::parse("syslog+tcp://h:1?hostname=gitlab&facility=13").unwrap();
        let meta = RecordMeta::new(
            time::parse("2026-10-01T12:00:00.5Z").unwrap(),
            8,
            "login failed é with spaces and a very long name beyond thirty-two",
        );
        let mut out = Vec::new();
        format_message(&mut out, &cfg, &meta, b"CEF:0|a|b|c|d|e|8|k=v");
        let text = String::from_utf8(out).unwrap();
        // PRI = 13 * 8 + 3 (error, from severity 8) = 107; MSGID keeps printable ASCII only, 32 at most.
        assert_eq!(text, format!("<107>1 2026-10-01T12:00:00.500000Z gitlab compliance-report {} loginfailedwithspacesandaverylon - CEF:0|a|b|c|d|e|8|k=v", std::process::id()));
    }
}
