//! A minimal HTTP/1.1 client for the benchmark: one keep-alive connection, one request at a time
//! (no pipelining), responses framed by `Content-Length`. Enough for the gateway, which answers
//! every route with a fixed-length body; anything else is an error, never a guess.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head (status line and headers) accepted.
const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest response body accepted.
const BODY_BYTES_MAX: usize = 1 << 20;

/// One response: its status and where its body is in the connection's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    body_start: usize,
    body_end: usize,
    /// The server said `Connection: close`: the connection must not be reused.
    pub close: bool,
}

/// A keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::with_capacity(4096) })
    }

    /// Writes `request` (a whole HTTP/1.1 request) and reads the whole response.
    pub async fn roundtrip(&mut self, request: &[u8]) -> io::Result<Reply> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > HEAD_BYTES_MAX {
                return Err(invalid("response head too large"));
            }
            self.fill().await?;
        };
        let head = parse_head(self.buf.get(..head_end).unwrap_or_default())?;
        let body_end = head_end + head.content_length;
        while self.buf.len() < body_end {
            self.fill().await?;
        }
        if self.buf.len() > body_end {
            return Err(invalid("bytes after the response (the server answered more than asked)"));
        }
        Ok(Reply { status: head.status, body_start: head_end, body_end, close: head.close })
    }

    /// The body of the last response.
    pub fn body(&self, reply: &Reply) -> &[u8] {
        self.buf.get(reply.body_start..reply.body_end).unwrap_or_default()
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        Ok(())
    }
}

struct Head {
    status: u16,
    content_length: usize,
    close: bool,
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("malformed status line"))?;
    let mut content_length = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<usize>().map_err(|_| invalid("malformed Content-Length"))?;
            if n > BODY_BYTES_MAX {
                return Err(invalid("response body too large"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("a chunked response (this client reads Content-Length bodies only)"));
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let content_length = content_length.ok_or_else(|| invalid("a response without Content-Length"))?;
    Ok(Head { status, content_length, close })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A form-encoded POST with an optional `Authorization` header, as bytes ready to write.
pub fn post_form(addr: SocketAddr, path: &str, auth: Option<&str>, pairs: &[(&str, &str)]) -> Vec<u8> {
    let body = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Form encoding of the few characters the benchmark's values can hold.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n").unwrap();
        assert_eq!((h.status, h.content_length, h.close), (200, 42, false));
        let h =
            parse_head(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!((h.status, h.content_length, h.close), (429, 0, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn forms() {
        assert_eq!(encode("correct horse 1"), "correct+horse+1");
        assert_eq!(encode("a:b/c"), "a%3Ab%2Fc");
    }
}
