//! A tiny raw server that answers from bytes rendered before any clock starts, with
//! one `write` per response: the whole SSE response (head with `content-length` and
//! body), or every WebSocket frame of the response back to back. It costs the client
//! almost nothing to be fed by it, so a client's time against it is the client's own
//! cost of reading and handling the bytes.
//!
//! Blocking `std::net` on its own threads (one accept thread, one per connection), so
//! it is the same server whichever runtime the client runs on.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::workload::Workload;

/// Largest client frame or request body read (the clients send a few hundred bytes).
const MAX_CLIENT_MESSAGE: u64 = 1 << 20;

struct Shared {
    http_response: Vec<u8>,
    ws_frames: Vec<u8>,
    stop: AtomicBool,
    open: Mutex<usize>,
    changed: Condvar,
}

impl Shared {
    fn open_count(&self) -> MutexGuard<'_, usize> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running server; dropping it stops accepting and waits for open connections.
pub(crate) struct PrerenderedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl PrerenderedServer {
    /// Serves `workload` on a free port of 127.0.0.1.
    pub(crate) fn start(workload: &Workload) -> io::Result<PrerenderedServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            http_response: http_response(&workload.sse_body),
            ws_frames: workload.ws_messages.iter().fold(Vec::new(), |mut out, m| {
                encode_text_frame(m.as_bytes(), &mut out);
                out
            }),
            stop: AtomicBool::new(false),
            open: Mutex::new(0),
            changed: Condvar::new(),
        });
        let accept_shared = shared.clone();
        let accept = std::thread::Builder::new()
            .name("bench-prerendered".into())
            .spawn(move || accept_loop(&listener, &accept_shared))?;
        Ok(PrerenderedServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits (on a condition variable, woken by every close) until no connection is
    /// open; false if that took longer than `timeout`.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let guard = self.shared.open_count();
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |open| *open > 0)
            .unwrap_or_else(|p| p.into_inner());
        *guard == 0
    }
}

impl Drop for PrerenderedServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.wait_idle(Duration::from_secs(5));
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        *shared.open_count() += 1;
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("bench-prerendered-conn".into())
            .spawn(move || {
                let _ = serve(stream, &conn_shared);
                *conn_shared.open_count() -= 1;
                conn_shared.changed.notify_all();
            });
        if spawned.is_err() {
            *shared.open_count() -= 1;
            shared.changed.notify_all();
        }
    }
}

/// One connection: a POST answered with the SSE response, or a WebSocket whose every
/// client text message is answered with all the frames. Returns when the client
/// closes.
fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    match header(&head, "sec-websocket-key") {
        Some(key) => {
            let accept = derive_accept_key(key.as_bytes());
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            writer.write_all(answer.as_bytes())?;
            while let Some(opcode) = read_client_frame(&mut reader)? {
                match opcode {
                    0x1 => writer.write_all(&shared.ws_frames)?,
                    0x8 => break,
                    _ => {}
                }
            }
        }
        None => {
            let length: u64 = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            skip(&mut reader, length.min(MAX_CLIENT_MESSAGE))?;
            writer.write_all(&shared.http_response)?;
            // Nothing more to say; wait for the client to hang up.
            let _ = writer.shutdown(Shutdown::Write);
            skip(&mut reader, u64::MAX)?;
        }
    }
    Ok(())
}

/// The request head's lines (request line first), up to the blank line.
fn read_head(reader: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// A header's value, its name matched case-insensitively.
fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Reads and discards up to `n` bytes (to EOF for `u64::MAX`).
fn skip(reader: &mut impl Read, n: u64) -> io::Result<()> {
    io::copy(&mut reader.take(n), &mut io::sink()).map(drop)
}

/// Reads one (masked) client frame and returns its opcode; `None` at EOF.
fn read_client_frame(reader: &mut impl Read) -> io::Result<Option<u8>> {
    let mut start = [0u8; 2];
    match reader.read_exact(&mut start) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let opcode = start[0] & 0x0f;
    let masked = start[1] & 0x80 != 0;
    let length = match start[1] & 0x7f {
        126 => {
            let mut bytes = [0u8; 2];
            reader.read_exact(&mut bytes)?;
            u64::from(u16::from_be_bytes(bytes))
        }
        127 => {
            let mut bytes = [0u8; 8];
            reader.read_exact(&mut bytes)?;
            u64::from_be_bytes(bytes)
        }
        short => u64::from(short),
    };
    if length > MAX_CLIENT_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "client frame too large",
        ));
    }
    let mask_len = if masked { 4 } else { 0 };
    skip(reader, mask_len + length)?;
    Ok(Some(opcode))
}

/// Appends an unmasked, final text frame (RFC 6455 section 5.2), as a server sends it.
fn encode_text_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x81);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// A 200 with `content-length` and the SSE body.
fn http_response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
