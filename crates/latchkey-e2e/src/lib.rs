//! End-to-end tests of latchkey: real S3 clients against a real
//! `latchkey serve` process.
//!
//! This library is the harness the tests share: [`Server`] starts the binary
//! on a free loopback port with a fresh data directory and a known root key,
//! waits until it is ready, and stops it when dropped. [`RawHttp`] speaks
//! plain HTTP/1.1 over a `TcpStream`, for the health check and for requests
//! no SDK makes for us (presigned URLs, as a browser or `curl` would use them).
//!
//! The binary is `LATCHKEY_BIN` if set, else `target/debug/latchkey` in the
//! workspace; build it first with `cargo build -p latchkey-server`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The region the server is started in.
pub const REGION: &str = "us-east-1";

/// The root access key the server is started with: `AKIA` and 16 letters,
/// the shape of a real AWS access key ID.
pub const ROOT_ACCESS_KEY_ID: &str = "AKIALATCHKEYENDTOEND";

/// The root secret access key: 40 characters, like a real one.
pub const ROOT_SECRET_ACCESS_KEY: &str = "e2eSecretKeyForLatchkeyRustSdkTests00000";

/// How long a server may take to answer `/health/ready` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The server binary under test.
pub fn latchkey_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("LATCHKEY_BIN") {
        return PathBuf::from(bin);
    }
    // crates/latchkey-e2e -> workspace root
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/latchkey").components().collect()
}

/// A running `latchkey serve`, killed and reaped when dropped.
///
/// Its stderr (the server's log) goes to a file in the temporary directory;
/// if the dropping thread is panicking — a failed test — the log is printed,
/// so it shows up in the test's captured output.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    // Dropped last: removes the data directory and the log.
    _dir: TempDir,
}

impl Server {
    /// Starts a server with a fresh data directory and the root key above,
    /// and waits until it is ready. Panics with the server's log if it does
    /// not become ready within 30 seconds.
    pub fn start() -> Server {
        let bin = latchkey_bin();
        assert!(
            bin.is_file(),
            "latchkey binary not found at {}: run `cargo build -p latchkey-server` first \
             (or set LATCHKEY_BIN to the binary)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("latchkey.stderr.log");
        let log = File::create(&log_path).expect("creating the server log file");
        let addr = free_loopback_addr();

        let mut command = Command::new(&bin);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .env("LATCHKEY_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
            .env("LATCHKEY_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY)
            .env("LATCHKEY_REGION", REGION)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // Settings from the caller's environment must not change the server
        // under test.
        for var in ["LATCHKEY_CONFIG", "LATCHKEY_DOMAINS", "LATCHKEY_LOG_FORMAT"] {
            command.env_remove(var);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));

        let mut server = Server { child, addr, log_path, _dir: dir };
        server.wait_until_ready();
        server
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server has written to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no attempt yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("polling the server process") {
                panic!("latchkey exited before it was ready ({status}); its log:\n{}", self.log());
            }
            match RawHttp::new(self.addr).send("GET", "/health/ready", &[], b"") {
                Ok(resp) if resp.status == 200 => return,
                Ok(resp) => last = format!("status {}", resp.status),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "latchkey at {} was not ready within {READY_TIMEOUT:?} (last: {last}); its log:\n{}",
            self.addr,
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- latchkey log ({}) ---\n{}--- end of latchkey log ---", self.addr, self.log());
        }
    }
}

/// A loopback address with a port that was free a moment ago: bind port 0,
/// note what the kernel chose, and let it go for the server to take.
fn free_loopback_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("reading the bound address")
}

/// One HTTP/1.1 response, body fully read.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// Plain HTTP/1.1 over a fresh `TcpStream` per request (`Connection: close`),
/// with nothing added but `Host` and `Content-Length`: what the request says
/// is what the server gets.
pub struct RawHttp {
    addr: SocketAddr,
}

impl RawHttp {
    pub fn new(addr: SocketAddr) -> RawHttp {
        RawHttp { addr }
    }

    /// Sends one request. `target` is the request target (path and query,
    /// already encoded); `headers` must not include `Host`, `Content-Length`
    /// or `Connection`.
    pub fn send(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<RawResponse> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;

        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        // Every request states its length, even 0, so the server never has to
        // guess where the body ends.
        head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;

        read_response(BufReader::new(stream), method == "HEAD")
    }
}

fn read_response(mut reader: impl BufRead, is_head: bool) -> io::Result<RawResponse> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);

    let status_line = read_line(&mut reader)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;

    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = RawResponse { status, headers, body: Vec::new() };

    if is_head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let chunked = response.header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let size_line = read_line(&mut reader)?;
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|_| bad(format!("bad chunk size line {size_line:?}")))?;
            if size == 0 {
                // Trailers, then the blank line that ends the message.
                while !read_line(&mut reader)?.is_empty() {}
                break;
            }
            let start = response.body.len();
            response.body.resize(start + size, 0);
            reader.read_exact(&mut response.body[start..])?;
            read_line(&mut reader)?;
        }
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad(format!("bad content-length {len:?}")))?;
        response.body.resize(len, 0);
        reader.read_exact(&mut response.body)?;
    } else {
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

/// One line without its CRLF; an error at end of stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-response"));
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_length_response_is_read_to_its_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhello";
        let resp = read_response(&raw[..], false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("ETag"), Some("\"x\""));
        assert_eq!(resp.body, b"hello");
    }

    #[test]
    fn a_chunked_response_is_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        let resp = read_response(&raw[..], false).unwrap();
        assert_eq!(resp.body, b"hello");
    }

    #[test]
    fn a_head_response_has_no_body_whatever_its_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let resp = read_response(&raw[..], true).unwrap();
        assert!(resp.body.is_empty());
    }
}
