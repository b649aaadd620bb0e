//! Where a connection goes ([`Endpoint`]), read off an origin URL.

use std::io;

/// The host, port and security of an `http`, `https`, `ws` or `wss` URL; also the
/// keep-alive pool's origin key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Endpoint {
    /// The host name or IP address, without IPv6 brackets.
    pub(crate) host: String,
    /// The port, explicit or the scheme's default.
    pub(crate) port: u16,
    /// True for `https` and `wss`: TLS runs over the connection.
    pub(crate) secure: bool,
}

impl Endpoint {
    /// The endpoint of an `http`, `https`, `ws` or `wss` URL; any other scheme, or a
    /// URL without a host, is an `InvalidInput` error.
    pub(crate) fn of(uri: &http::Uri) -> io::Result<Endpoint> {
        let secure = match uri.scheme_str() {
            Some("https" | "wss") => true,
            Some("http" | "ws") => false,
            other => return Err(invalid(format!("unsupported URL scheme {other:?}"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| invalid("URL has no host".to_owned()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Endpoint { host, port, secure })
    }

    /// The `Host` header value for a request to `uri` (its authority as written).
    pub(crate) fn host_header(&self, uri: &http::Uri) -> String {
        uri.authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| self.host.clone())
    }

    /// `host:port` as a `CONNECT` request target and `Host` value wants it, with
    /// brackets around an IPv6 address.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> io::Result<Endpoint> {
        Endpoint::of(&url.parse().expect("a URI"))
    }

    #[test]
    fn schemes_ports_and_hosts_are_read_off_the_url() {
        let cases = [
            ("https://api.example.com/v1", "api.example.com", 443, true),
            (
                "wss://api.example.com:8443/v1",
                "api.example.com",
                8443,
                true,
            ),
            ("http://127.0.0.1:8080/v1", "127.0.0.1", 8080, false),
            ("ws://[::1]/v1", "::1", 80, false),
        ];
        for (url, host, port, secure) in cases {
            let got = endpoint(url).expect(url);
            assert_eq!(
                got,
                Endpoint {
                    host: host.to_owned(),
                    port,
                    secure
                },
                "{url}"
            );
        }
        assert_eq!(endpoint("ws://[::1]/v1").unwrap().authority(), "[::1]:80");
        assert_eq!(
            endpoint("https://a.example/").unwrap().authority(),
            "a.example:443"
        );
    }

    #[test]
    fn other_schemes_are_refused() {
        let err = endpoint("ftp://example.com/").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("ftp"), "{err}");
    }
}
