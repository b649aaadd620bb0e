//! What must be identical when the same scenario runs on tokio and on smol: the
//! caller's event transcript of every request and the server's recording, with what
//! legitimately differs left out (arrival times, the server's port, connection ids,
//! the random WebSocket key and the `Host` header).

use std::collections::BTreeMap;

use turnwire_protocol::session::ConnId;
use turnwire_testkit::sim::Recording;

use crate::scenario::Observed;

/// A runtime-independent summary of one run. Two runs of one scenario on different
/// runtimes must give equal fingerprints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Per request, every stream item (`Debug`), the server's port replaced by `PORT`.
    pub transcript: Vec<Vec<String>>,
    /// Per `POST`: method, URI, headers, body, compression, the answer.
    pub posts: Vec<String>,
    /// Per handshake: URI, headers, the answer.
    pub handshakes: Vec<String>,
    /// Per WebSocket message: its connection (as `wsN`), JSON, kind, reconstructed
    /// input, completion, loss, metadata token.
    pub messages: Vec<String>,
    /// The connections the client closed while the server still held them, sorted.
    pub closes: Vec<String>,
    /// Protocol violations the server saw.
    pub violations: Vec<String>,
}

impl Fingerprint {
    /// The fingerprint of an observed run.
    pub fn of(observed: &Observed) -> Fingerprint {
        let authority = observed
            .base_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let clean = |text: String| text.replace(&authority, "127.0.0.1:PORT");
        let rec = &observed.recording;
        let names = conn_names(rec);
        let name = |conn: &ConnId| names.get(conn).cloned().unwrap_or_else(|| "?".into());

        let transcript = observed
            .requests
            .iter()
            .map(|o| o.items.iter().map(|i| clean(format!("{i:?}"))).collect())
            .collect();
        let posts = rec
            .http
            .iter()
            .map(|p| {
                clean(format!(
                    "{} {} {:?} body={} compress={} -> {} {:?}",
                    p.method,
                    p.uri,
                    headers(&p.headers),
                    p.body,
                    p.compress,
                    p.status,
                    p.response_headers
                ))
            })
            .collect();
        let handshakes = rec
            .handshakes
            .iter()
            .map(|h| {
                clean(format!(
                    "{} {:?} -> {} {:?}",
                    h.uri,
                    headers(&h.headers),
                    h.status,
                    h.response_headers
                ))
            })
            .collect();
        let messages = rec
            .ws_messages
            .iter()
            .map(|m| {
                clean(format!(
                    "{} {} {:?} {:?} {:?} lost={} {:?}",
                    name(&m.conn),
                    m.json,
                    m.kind,
                    m.full_input,
                    m.completed,
                    m.lost,
                    m.metadata_token
                ))
            })
            .collect();
        let mut closes: Vec<String> = rec.closes.iter().map(|c| name(&c.conn)).collect();
        closes.sort();
        Fingerprint {
            transcript,
            posts,
            handshakes,
            messages,
            closes,
            violations: rec.violations.iter().cloned().map(clean).collect(),
        }
    }
}

/// `postN` / `wsN` for every connection, by its request's order of arrival.
fn conn_names(rec: &Recording) -> BTreeMap<ConnId, String> {
    let mut names = BTreeMap::new();
    for (i, post) in rec.http.iter().enumerate() {
        names.insert(post.conn, format!("post{i}"));
    }
    for (i, handshake) in rec.handshakes.iter().enumerate() {
        names.insert(handshake.conn, format!("ws{i}"));
    }
    names
}

/// The request headers that do not vary between runs, in order.
fn headers(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .filter(|(name, _)| !matches!(name.as_str(), "host" | "sec-websocket-key"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}
