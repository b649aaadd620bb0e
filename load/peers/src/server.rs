//! The benchmark's server, run in its own process (`turnwire-peers --serve`) so its
//! CPU never counts as the client's. It answers from bytes rendered at start: every
//! POST with a whole SSE response in one write (HTTP/1.1 keep-alive, so clients that
//! pool connections reuse them), every WebSocket `response.create` with all of the
//! response's frames in one write. It counts the connections it accepts.
//!
//! Paths: `/{long|seq}-{chunked|length}/v1/responses` for SSE,
//! `/{long|seq}-ws/v1/responses` for WebSocket. Control on standard input: a line
//! `accepts` prints the number of connections accepted so far; end of input stops it.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::workload::Response;

/// Largest request body or client frame read (the clients send a few hundred bytes).
const MAX_CLIENT_MESSAGE: u64 = 1 << 20;
/// Longest request head line read.
const MAX_LINE: u64 = 16 * 1024;

/// What the server answers, by the path's first segment.
struct Answers {
    http: BTreeMap<String, Vec<u8>>,
    ws: BTreeMap<String, Vec<u8>>,
}

impl Answers {
    fn new(long: &Response, seq: &Response) -> Answers {
        let mut http = BTreeMap::new();
        let mut ws = BTreeMap::new();
        for (name, response) in [("long", long), ("seq", seq)] {
            http.insert(format!("{name}-chunked"), response.http_response(true));
            http.insert(format!("{name}-length"), response.http_response(false));
            ws.insert(format!("{name}-ws"), response.ws_frames());
        }
        Answers { http, ws }
    }
}

/// Serves until standard input ends. Prints the port first.
pub(crate) fn serve(long: &Response, seq: &Response) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let port = listener.local_addr()?.port();
    let answers = Arc::new(Answers::new(long, seq));
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    std::thread::Builder::new()
        .name("peers-accept".into())
        .spawn(move || accept_loop(&listener, &answers, &counter))?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{port}")?;
    stdout.flush()?;
    for line in io::stdin().lock().lines() {
        if line?.trim() == "accepts" {
            writeln!(stdout, "{}", accepted.load(Ordering::SeqCst))?;
            stdout.flush()?;
        }
    }
    Ok(())
}

fn accept_loop(listener: &TcpListener, answers: &Arc<Answers>, accepted: &AtomicU64) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        accepted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let answers = answers.clone();
        let _ = std::thread::Builder::new()
            .name("peers-conn".into())
            .spawn(move || serve_connection(stream, &answers));
    }
}

/// One connection: requests until the client hangs up, or a WebSocket.
fn serve_connection(stream: TcpStream, answers: &Answers) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let name = head
            .first()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|path| path.trim_start_matches('/').split('/').next())
            .unwrap_or("")
            .to_owned();
        if let Some(key) = header(&head, "sec-websocket-key") {
            let frames = answers.ws.get(&name).ok_or(io::ErrorKind::NotFound)?;
            let accept = derive_accept_key(key.as_bytes());
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            writer.write_all(answer.as_bytes())?;
            return serve_websocket(&mut reader, &mut writer, frames);
        }
        let length: u64 = header(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        skip(&mut reader, length.min(MAX_CLIENT_MESSAGE))?;
        match answers.http.get(&name) {
            Some(response) => writer.write_all(response)?,
            None => writer.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")?,
        }
        if header(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            return Ok(());
        }
    }
}

/// Answers every client text message with `frames`, until the client closes.
fn serve_websocket(
    reader: &mut impl Read,
    writer: &mut impl Write,
    frames: &[u8],
) -> io::Result<()> {
    while let Some(opcode) = read_client_frame(reader)? {
        match opcode {
            0x1 => writer.write_all(frames)?,
            0x8 => {
                let _ = writer.write_all(&[0x88, 0x00]);
                break;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The request head's lines (request line first), up to the blank line; `None` at
/// end of input before a request starts.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.by_ref().take(MAX_LINE).read_line(&mut line)? == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Ok(Some(lines));
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

/// Reads and discards `n` bytes.
fn skip(reader: &mut impl Read, n: u64) -> io::Result<()> {
    io::copy(&mut reader.take(n), &mut io::sink()).map(drop)
}

/// Reads one (masked) client frame and returns its opcode; `None` at end of input.
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
    skip(reader, if masked { 4 } else { 0 } + length)?;
    Ok(Some(opcode))
}
