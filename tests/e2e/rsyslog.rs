//! A real rsyslog on free loopback ports, started and stopped by each test, writing every
//! message it receives (JSON-escaped, one per line) to a file.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Rsyslog {
    child: Child,
    _dir: tempfile::TempDir,
    pub tcp_port: u16,
    pub udp_port: u16,
    /// RELP (`imrelp`), without TLS.
    pub relp_port: u16,
    out: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it, made with openssl.
pub struct TestPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl TestPki {
    pub fn new(dir: &std::path::Path, name: &str) -> TestPki {
        let p = |f: &str| dir.join(format!("{name}-{f}"));
        let s = |p: &PathBuf| p.to_str().unwrap().to_string();
        let (ca, ca_key, key, csr, cert, ext) =
            (p("ca.pem"), p("ca.key"), p("server.key"), p("server.csr"), p("server.pem"), p("ext.cnf"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &s(&ca_key),
            "-out",
            &s(&ca),
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &s(&key),
            "-out",
            &s(&csr),
        ]);
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca),
            "-CAkey",
            &s(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &s(&ext),
            "-out",
            &s(&cert),
        ]);
        TestPki { ca, cert, key }
    }
}

impl Rsyslog {
    /// Start rsyslogd, or `None` (skip) when it is not installed outside CI.
    pub fn start() -> Option<Rsyslog> {
        Rsyslog::start_with(None)
    }

    /// Start rsyslogd with its TCP input behind TLS (gtls driver) using `pki`.
    pub fn start_tls(pki: &TestPki) -> Option<Rsyslog> {
        Rsyslog::start_with(Some(pki))
    }

    fn start_with(pki: Option<&TestPki>) -> Option<Rsyslog> {
        let bin = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].into_iter().find(|p| std::path::Path::new(p).exists());
        let Some(bin) = bin else {
            crate::util::skip_unless_ci("rsyslogd", ".ci/run installs it");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let (tcp_port, udp_port, relp_port) = (free_port(), free_port(), free_port());
        let out = dir.path().join("received.log");
        let conf = dir.path().join("rsyslog.conf");
        let (tls_global, tls_module) = match pki {
            Some(p) => (
                format!(
                    r#" DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{}" DefaultNetstreamDriverCertFile="{}" DefaultNetstreamDriverKeyFile="{}""#,
                    p.ca.display(),
                    p.cert.display(),
                    p.key.display()
                ),
                r#" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon""#.to_string(),
            ),
            None => (String::new(), String::new()),
        };
        // UDP has no flow control: a large receive buffer (SO_RCVBUFFORCE as root) keeps a
        // burst from being dropped by the kernel while rsyslogd is not scheduled on a busy CI host.
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}" maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off"{tls_global})
module(load="imtcp"{tls_module})
module(load="imudp")
template(name="raw" type="string" string="%rawmsg:::json%\n")
input(type="imtcp" port="{tcp_port}" address="127.0.0.1")
input(type="imudp" port="{udp_port}" address="127.0.0.1" rcvBufSize="16m")
module(load="imrelp")
input(type="imrelp" port="{relp_port}" address="127.0.0.1")
*.* action(type="omfile" file="{out}" template="raw")
"#,
                dir = dir.path().display(),
                out = out.display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", tcp_port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "rsyslogd did not listen on {tcp_port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        while std::net::TcpStream::connect(("127.0.0.1", relp_port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "rsyslogd did not listen on {relp_port} (imrelp)");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Rsyslog { child, _dir: dir, tcp_port, udp_port, relp_port, out })
    }

    /// The messages received so far, waiting until there are `n` (or 30 s pass).
    pub fn received(&self, n: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            let lines: Vec<String> =
                text.lines().map(|l| serde_json::from_str(&format!("\"{l}\"")).expect("JSON-escaped line")).collect();
            if lines.len() >= n || started.elapsed() > Duration::from_secs(30) {
                // A little longer, to catch extra (duplicate) messages.
                std::thread::sleep(Duration::from_millis(300));
                let text = std::fs::read_to_string(&self.out).unwrap_or_default();
                return text.lines().map(|l| serde_json::from_str(&format!("\"{l}\"")).unwrap()).collect();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
