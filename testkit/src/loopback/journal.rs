//! The request journal: every request, handshake, WebSocket message and response head
//! the loopback server sees, as one JSON object per line, with credentials redacted.
//!
//! Lines look like
//! `{"t_ms":12,"conn":3,"kind":"request","method":"POST","path":"/v1/responses","headers":{…},"body":{…}}`;
//! `kind` is `request`, `handshake`, `message` (a WebSocket text frame from the
//! client) or `response` (the status and headers the server answered with). The values
//! of `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie` and every header
//! whose name mentions an API key, a secret or a password are written as
//! `[redacted]`, and so are query parameters named like a key, token or secret.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use tokio::time::Instant;

use serde_json::{Map, Value, json};
use turnwire_protocol::session::ConnId;

/// What redacted values are written as.
pub const REDACTED: &str = "[redacted]";

/// A JSON-lines journal (see the module documentation). Writes are serialised and
/// flushed line by line, so the file is complete whenever the server stops.
pub struct Journal {
    out: Mutex<Box<dyn Write + Send>>,
    started: Instant,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal written to a new (or truncated) file at `path`.
    pub fn create(path: &Path) -> std::io::Result<Journal> {
        let file = std::fs::File::create(path)?;
        Ok(Journal::to_writer(Box::new(std::io::BufWriter::new(file))))
    }

    /// A journal written to any writer.
    pub fn to_writer(out: Box<dyn Write + Send>) -> Journal {
        Journal {
            out: Mutex::new(out),
            started: Instant::now(),
        }
    }

    fn write(&self, conn: ConnId, kind: &str, fields: Value) {
        let mut line = Map::new();
        let t_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        line.insert("t_ms".into(), json!(t_ms));
        line.insert("conn".into(), json!(conn.0));
        line.insert("kind".into(), json!(kind));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A journal that cannot be written must not stop the server.
        let _ = writeln!(out, "{}", Value::Object(line));
        let _ = out.flush();
    }

    /// An HTTP request with its body (JSON when it parses, else text).
    pub(crate) fn request(
        &self,
        conn: ConnId,
        method: &http::Method,
        path: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) {
        let body = serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        self.write(
            conn,
            "request",
            json!({"method": method.as_str(), "path": redact_query(path), "headers": redact_headers(headers), "body": body}),
        );
    }

    /// A WebSocket handshake.
    pub(crate) fn handshake(&self, conn: ConnId, path: &str, headers: &http::HeaderMap) {
        self.write(
            conn,
            "handshake",
            json!({"path": redact_query(path), "headers": redact_headers(headers)}),
        );
    }

    /// A WebSocket text message from the client.
    pub(crate) fn message(&self, conn: ConnId, text: &str) {
        let message = serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(text));
        self.write(conn, "message", json!({"message": message}));
    }

    /// The head the server answered with.
    pub(crate) fn response(&self, conn: ConnId, status: u16, headers: &[(String, String)]) {
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(name, value)| {
                let value = if is_secret(name) { REDACTED } else { value };
                (name.clone(), json!(value))
            })
            .collect();
        self.write(
            conn,
            "response",
            json!({"status": status, "headers": headers}),
        );
    }
}

/// True for header names whose values are credentials.
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || ["key", "secret", "password", "token"]
        .iter()
        .any(|word| name.contains(word) && !name.ends_with("turn-state"))
}

/// Headers as a JSON object, credentials replaced by [`REDACTED`]; a repeated header
/// becomes an array of its values.
pub fn redact_headers(headers: &http::HeaderMap) -> Value {
    let mut map = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                if is_secret(name.as_str()) {
                    json!(REDACTED)
                } else {
                    json!(String::from_utf8_lossy(v.as_bytes()))
                }
            })
            .collect();
        let value = match <[Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
        map.insert(name.as_str().to_owned(), value);
    }
    Value::Object(map)
}

/// A request target with the values of credential-like query parameters redacted.
pub fn redact_query(path: &str) -> String {
    let Some((route, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret(name) || name.eq_ignore_ascii_case("sig") => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{route}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_other_headers_kept() {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer sk-secret"),
            ("proxy-authorization", "Basic dXNlcjpwdw=="),
            ("api-key", "sk-azure"),
            ("x-api-key", "sk-other"),
            ("cookie", "session=1"),
            ("x-codex-turn-state", "ts-1"),
            ("content-type", "application/json"),
        ] {
            headers.append(name, http::HeaderValue::from_static(value));
        }
        let json = redact_headers(&headers).to_string();
        for secret in [
            "sk-secret",
            "dXNlcjpwdw",
            "sk-azure",
            "sk-other",
            "session=1",
        ] {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
        assert!(
            json.contains("ts-1") && json.contains("application/json"),
            "{json}"
        );
        assert_eq!(
            redact_query("/v1/responses?api-key=sk-1&x=2"),
            "/v1/responses?api-key=[redacted]&x=2"
        );
    }
}
