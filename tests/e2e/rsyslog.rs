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
    out: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Rsyslog {
    /// Start rsyslogd, or `None` (skip) when it is not installed outside CI.
    pub fn start() -> Option<Rsyslog> {
        let bin = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].into_iter().find(|p| std::path::Path::new(p).exists());
        let Some(bin) = bin else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "rsyslogd is required under CI=true (.ci/run installs it)"
            );
            eprintln!("skipping: rsyslogd not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let (tcp_port, udp_port) = (free_port(), free_port());
        let out = dir.path().join("received.log");
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}" maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off")
module(load="imtcp")
module(load="imudp")
template(name="raw" type="string" string="%rawmsg:::json%\n")
input(type="imtcp" port="{tcp_port}" address="127.0.0.1")
input(type="imudp" port="{udp_port}" address="127.0.0.1")
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
        Some(Rsyslog { child, _dir: dir, tcp_port, udp_port, out })
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
