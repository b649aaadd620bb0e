//! A raw socket read (a floor): one tokio `TcpStream`, the request written by hand,
//! every response read on the same connection with events counted by their blank
//! lines. No HTTP parsing, no decoding.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::case::{Case, REQUEST_BODY};
use crate::clients::BlankLines;
use crate::measure::{FirstEvent, Rep, Stopwatch};

/// Bytes read at a time, as the driver's HTTP reader does.
const READ_SIZE: usize = 16 * 1024;

/// Reads every response of `case` from the server at `port`.
pub(crate) async fn read(case: &Case, port: u16) -> Result<Rep, String> {
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer bench-key\r\ncontent-type: application/json\r\naccept: text/event-stream\r\ncontent-length: {}\r\n\r\n{REQUEST_BODY}",
        case.path(),
        REQUEST_BODY.len()
    );
    let mut buf = vec![0u8; READ_SIZE];
    let mut first_events = Vec::with_capacity(case.requests);
    let stopwatch = Stopwatch::start();
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    for _ in 0..case.requests {
        let mut first = FirstEvent::start();
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut counter = BlankLines::default();
        while counter.count < case.events_per_request() {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            counter.feed(&buf[..n]);
            if counter.count > 0 {
                first.event();
            }
        }
        first_events.push(first.finish());
        super::expect("raw events", counter.count, case.events_per_request())?;
    }
    Ok(stopwatch.stop(first_events))
}
