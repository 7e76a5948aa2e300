//! Real peers for the delivery tests: aiosmtpd (Python) as the SMTP server, and a plain TCP
//! listener thread as the SMS provider.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use services_notifications::{Clock, ManualClock};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// True when `python3 -m aiosmtpd` can run. In CI (`CI=true`) its absence is an error, since
/// `scripts/test` installs it; elsewhere the caller skips, loudly.
pub fn aiosmtpd_available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: python3 -m aiosmtpd is unavailable in CI; scripts/test should have installed it"
        );
        eprintln!();
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!!! SKIPPED {test}: python3 -m aiosmtpd is not available.");
        eprintln!("!!! Install it with: python3 -m pip install aiosmtpd   (scripts/test does this)");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    }
    ok
}

/// One message as the SMTP server stored it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Header names lower-cased; folded lines unfolded.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or("")
    }

    fn parse(raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(name) = &last {
                    let v: &mut String = headers.get_mut(name).unwrap();
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                headers.insert(name.clone(), value.trim().to_string());
                last = Some(name);
            }
        }
        Mail { headers, body: body.to_string() }
    }
}

/// aiosmtpd with the Mailbox handler: each accepted message becomes a file in a maildir.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(free_port())
    }

    pub fn start_on(port: u16) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3 -m aiosmtpd");
        let mut server = SmtpServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                // Wait for the greeting so the server is really serving.
                let mut line = String::new();
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("220") {
                    let _ = (&s).write_all(b"QUIT\r\n");
                    break;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aiosmtpd exited early: {status}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not start listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn maildir(&self) -> std::path::PathBuf {
        self.dir.path().join("maildir")
    }

    /// Every message received so far, in no particular order.
    pub fn messages(&self) -> Vec<Mail> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir().join(sub)) else { continue };
            for e in entries {
                let path = e.unwrap().path();
                out.push(Mail::parse(&read_lossy(&path)));
            }
        }
        out
    }

    /// Count of messages per `Message-ID` header.
    pub fn ids(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for m in self.messages() {
            *ids.entry(m.header("message-id").to_string()).or_insert(0) += 1;
        }
        ids
    }
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    std::fs::File::open(path).unwrap().read_to_end(&mut bytes).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the SMS provider saw.
#[derive(Debug, Clone)]
pub struct SmsRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The test clock's time when it arrived.
    pub at_ms: i64,
    /// What the provider answered.
    pub status: u16,
}

/// A fake SMS provider on a real socket: records each request and answers with `respond(n)`
/// for the n-th request (0-based).
#[derive(Debug)]
pub struct SmsServer {
    pub url: String,
    requests: Arc<Mutex<Vec<SmsRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmsServer {
    pub fn start(clock: Arc<ManualClock>, respond: impl Fn(usize) -> u16 + Send + 'static) -> SmsServer {
        SmsServer::start_on(0, clock, respond)
    }

    pub fn start_on(port: u16, clock: Arc<ManualClock>, respond: impl Fn(usize) -> u16 + Send + 'static) -> SmsServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let url = format!("http://127.0.0.1:{}/v1/sms", listener.local_addr().unwrap().port());
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: stops when told, or after a minute at most.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stopping.load(Ordering::Acquire) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let at_ms = clock.now_ms();
                        if let Some(mut req) = read_request(&stream) {
                            // Recorded before answering, so the client never sees an answer to
                            // a request the test cannot see yet.
                            let n = reqs.lock().unwrap().len();
                            req.status = respond(n);
                            req.at_ms = at_ms;
                            reqs.lock().unwrap().push(req.clone());
                            answer(&stream, req.status);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        SmsServer { url, requests, stop, thread: Some(thread) }
    }

    pub fn requests(&self) -> Vec<SmsRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<SmsRequest> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(SmsRequest { method, path, headers, body: String::from_utf8(body).ok()?, at_ms: 0, status: 0 })
}

fn answer(mut stream: &TcpStream, status: u16) {
    let reason = if status < 300 { "OK" } else { "Error" };
    let answer = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
    let _ = stream.write_all(answer.as_bytes());
}

impl Drop for SmsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
