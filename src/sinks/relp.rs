//! A RELP client session (rsyslog's Reliable Event Logging Protocol, as `imrelp` speaks it):
//! frames `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; `open` offers `commands=syslog`; each
//! `syslog` frame is answered by a `rsp` frame with the same transaction number whose data
//! starts with `200`. Messages go out in windows of [`WINDOW`] and a window counts only when
//! every message in it was acknowledged — what plain syslog over TCP cannot tell.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// Unacknowledged messages in flight (librelp's default window).
pub const WINDOW: usize = 128;

/// An open RELP session.
pub struct Session {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    /// The next transaction number (1 … 999,999,999, then 1 again).
    txnr: u32,
}

fn protocol(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, format!("RELP: {what}"))
}

/// One frame: transaction number, command and data.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u32,
    pub command: String,
    pub data: Vec<u8>,
}

/// Write one frame.
pub fn write_frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    if data.is_empty() {
        writeln!(out, "{txnr} {command} 0").expect("Vec write");
    } else {
        write!(out, "{txnr} {command} {} ", data.len()).expect("Vec write");
        out.extend_from_slice(data);
        out.push(b'\n');
    }
}

/// Read one frame.
pub fn read_frame(r: &mut impl BufRead) -> std::io::Result<Frame> {
    let mut word = |what: &str| -> std::io::Result<String> {
        let mut w = Vec::new();
        r.read_until(b' ', &mut w)?;
        if w.last() == Some(&b' ') {
            w.pop();
        } else if w.is_empty() {
            return Err(protocol("the receiver closed the session".into()));
        }
        String::from_utf8(w).map_err(|_| protocol(format!("{what} is not text")))
    };
    let txnr = word("transaction number")?;
    let txnr: u32 = txnr.trim().parse().map_err(|_| protocol(format!("bad transaction number {txnr:?}")))?;
    let command = word("command")?;
    // DATALEN ends with a space (data follows) or directly with the trailer (no data).
    let mut len = Vec::new();
    loop {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        match b[0] {
            b' ' | b'\n' => {
                let n: usize = std::str::from_utf8(&len)
                    .ok()
                    .and_then(|l| l.parse().ok())
                    .ok_or_else(|| protocol(format!("bad data length {:?}", String::from_utf8_lossy(&len))))?;
                let mut data = vec![0u8; n];
                if b[0] == b' ' {
                    r.read_exact(&mut data)?;
                    let mut trailer = [0u8; 1];
                    r.read_exact(&mut trailer)?;
                    if trailer[0] != b'\n' {
                        return Err(protocol("frame without its trailer".into()));
                    }
                } else if n != 0 {
                    return Err(protocol("data length without data".into()));
                }
                return Ok(Frame { txnr, command, data });
            }
            d if d.is_ascii_digit() && len.len() < 10 => len.push(d),
            _ => return Err(protocol("bad data length".into())),
        }
    }
}

impl Session {
    /// Open a session on a connected stream: offer `syslog`, require `200`.
    pub fn open(stream: TcpStream) -> std::io::Result<Session> {
        let reader = BufReader::new(stream.try_clone()?);
        let mut s = Session { stream, reader, txnr: 1 };
        let offers =
            format!("relp_version=0\nrelp_software=compliance-report,{}\ncommands=syslog", env!("CARGO_PKG_VERSION"));
        let mut out = Vec::new();
        let txnr = s.next_txnr();
        write_frame(&mut out, txnr, "open", offers.as_bytes());
        s.stream.write_all(&out)?;
        s.expect_ok(txnr)?;
        Ok(s)
    }

    fn next_txnr(&mut self) -> u32 {
        let t = self.txnr;
        self.txnr = if t >= 999_999_999 { 1 } else { t + 1 };
        t
    }

    /// Read the answer to `txnr`; an error unless it is `rsp` with status 200.
    fn expect_ok(&mut self, txnr: u32) -> std::io::Result<()> {
        let f = read_frame(&mut self.reader)?;
        if f.command == "serverclose" {
            return Err(protocol("the receiver closed the session".into()));
        }
        if f.command != "rsp" || f.txnr != txnr {
            return Err(protocol(format!("expected the answer to {txnr}, got {} {}", f.txnr, f.command)));
        }
        if !f.data.starts_with(b"200") {
            let text = String::from_utf8_lossy(&f.data);
            return Err(protocol(format!(
                "the receiver refused message {txnr}: {}",
                text.lines().next().unwrap_or("")
            )));
        }
        Ok(())
    }

    /// Send every message, [`WINDOW`] at a time, each window acknowledged before the next.
    pub fn send_all(&mut self, messages: impl Iterator<Item = Vec<u8>>) -> std::io::Result<()> {
        let mut messages = messages.peekable();
        let mut out = Vec::with_capacity(1 << 16);
        while messages.peek().is_some() {
            out.clear();
            let mut sent = Vec::with_capacity(WINDOW);
            for m in messages.by_ref().take(WINDOW) {
                let txnr = self.next_txnr();
                write_frame(&mut out, txnr, "syslog", &m);
                sent.push(txnr);
            }
            self.stream.write_all(&out)?;
            for txnr in sent {
                self.expect_ok(txnr)?;
            }
        }
        Ok(())
    }

    /// Close the session (best effort: the messages were all acknowledged already).
    pub fn close(mut self) {
        let mut out = Vec::new();
        let txnr = self.next_txnr();
        write_frame(&mut out, txnr, "close", b"");
        if self.stream.write_all(&out).is_ok() {
            let _ = read_frame(&mut self.reader);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_exactly() {
        let mut out = Vec::new();
        write_frame(&mut out, 2, "syslog", b"<110>1 x\nwith LF");
        write_frame(&mut out, 3, "close", b"");
        assert_eq!(out, b"2 syslog 16 <110>1 x\nwith LF\n3 close 0\n");
        let mut r = std::io::Cursor::new(out);
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Frame { txnr: 2, command: "syslog".into(), data: b"<110>1 x\nwith LF".to_vec() }
        );
        assert_eq!(read_frame(&mut r).unwrap(), Frame { txnr: 3, command: "close".into(), data: vec![] });
        let e = read_frame(&mut r).unwrap_err().to_string();
        assert!(e.contains("closed the session"), "{e}");
        let mut bad = std::io::Cursor::new(b"4 rsp 9 200 OK\n".to_vec());
        assert!(read_frame(&mut bad).is_err(), "data shorter than its length");
    }
}
