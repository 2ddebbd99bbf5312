//! A small HTTP/1.1 server on a free loopback port that answers from a script, for failure
//! injection: statuses with headers and bodies, slow answers, dropped connections, `_bulk`
//! partial failures. It records every request (gzip bodies decompressed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub enum Reply {
    Status(u16, &'static str, &'static str),
    /// Answer after this long.
    Slow(Duration),
    /// Close the connection without answering.
    Reset,
    /// A `_bulk` answer with every third item failed with 429.
    BulkPartial,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct TestServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

fn bulk_answer(body: &str, fail_every_third: bool) -> String {
    let items: Vec<String> = (0..body.lines().count() / 2)
        .map(|i| {
            if fail_every_third && i % 3 == 0 {
                r#"{"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}"#.to_string()
            } else {
                r#"{"create":{"status":201}}"#.to_string()
            }
        })
        .collect();
    format!("{{\"took\":1,\"errors\":{},\"items\":[{}]}}", fail_every_third, items.join(","))
}

fn serve(stream: TcpStream, script: Arc<Mutex<Vec<Reply>>>, requests: Arc<Mutex<Vec<Request>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut raw = vec![0u8; len];
        reader.read_exact(&mut raw).unwrap();
        let gzip = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
        let body = if gzip {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut s).unwrap();
            s
        } else {
            String::from_utf8(raw).unwrap()
        };
        let is_bulk = line.contains("_bulk");
        let reply = {
            let mut s = script.lock().unwrap();
            if s.is_empty() {
                None
            } else {
                Some(s.remove(0))
            }
        };
        requests.lock().unwrap().push(Request { headers, body: body.clone() });
        let (status, extra, answer) = match reply {
            None => {
                (200, "", if is_bulk { bulk_answer(&body, false) } else { "{\"text\":\"Success\",\"code\":0}".into() })
            }
            Some(Reply::Status(code, extra, text)) => (code, extra, text.to_string()),
            Some(Reply::Slow(d)) => {
                std::thread::sleep(d);
                (200, "", "{}".to_string())
            }
            Some(Reply::Reset) => return,
            Some(Reply::BulkPartial) => (200, "", bulk_answer(&body, true)),
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{answer}",
            answer.len()
        );
        if stream.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

impl TestServer {
    pub fn start(path: &str, script: Vec<Reply>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let reqs = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, reqs) = (script.clone(), reqs.clone());
                std::thread::spawn(move || serve(stream, script, reqs));
            }
        });
        TestServer { url, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}
