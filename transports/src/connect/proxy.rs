//! The proxy setting ([`Proxy`], [`NoProxy`]) and the `CONNECT` tunnel through it
//! (PROTOCOL.md 3.3). Every origin scheme goes through a tunnel; TLS to an `https` or
//! `wss` origin then runs end to end inside it, so the proxy sees only the target's
//! host and port. Credentials from the proxy URL go in `Proxy-Authorization: Basic`
//! and nowhere else: not in `Debug` output, errors or logs.

use core::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use turnwire_protocol::Secret;
use turnwire_protocol::connect::ConnectFailure;

use super::endpoint::Endpoint;
use crate::runtime::BoxStream;

/// An HTTP proxy that every connection of a client goes through, unless its host is on
/// the no-proxy list. Build one with [`Proxy::new`] from a URL, or with
/// [`Proxy::from_env`] from `HTTPS_PROXY`-style variables.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    secure: bool,
    host: String,
    port: u16,
    credentials: Option<(String, Secret)>,
    no_proxy: NoProxy,
}

/// Why a proxy setting could not be built. Never contains the URL's credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL is not `http://[user:pass@]host[:port]` (or `https://…`).
    #[error("invalid proxy URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
}

impl Proxy {
    /// The proxy at `url`: `http://[user:pass@]host[:port]` (port 80 by default) or
    /// `https://…` (port 443; TLS to the proxy under the client's trust policy). A URL
    /// without a scheme is read as `http://`. Percent-encoded credentials are decoded.
    /// The error never repeats the URL, which may hold a password.
    pub fn new(url: &str) -> Result<Proxy, ProxyError> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_owned(), url),
        };
        let secure = match scheme.as_str() {
            "http" => false,
            "https" => true,
            other => {
                return Err(invalid(format!(
                    "unsupported scheme {other:?} (only http and https proxies)"
                )));
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let parsed: http::uri::Authority = hostport
            .parse()
            .map_err(|_| invalid("the host and port do not parse".to_owned()))?;
        let host = parsed
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(invalid("no host".to_owned()));
        }
        let port = match parsed.port_u16() {
            Some(port) => port,
            // `host:` with a port that is not a number from 0 to 65535.
            None if parsed.as_str().len() > parsed.host().len() => {
                return Err(invalid(
                    "the port is not a number from 0 to 65535".to_owned(),
                ));
            }
            None if secure => 443,
            None => 80,
        };
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user)
                    .ok_or_else(|| invalid("the user name is not valid percent-encoding".into()))?;
                let password = percent_decode(password)
                    .ok_or_else(|| invalid("the password is not valid percent-encoding".into()))?;
                Some((user, Secret::new(password)))
            }
        };
        Ok(Proxy {
            secure,
            host,
            port,
            credentials,
            no_proxy: NoProxy::default(),
        })
    }

    /// The same proxy with these credentials for `Proxy-Authorization: Basic`,
    /// replacing any from the URL.
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// The same proxy, bypassed for the hosts `no_proxy` matches.
    pub fn with_no_proxy(mut self, no_proxy: NoProxy) -> Self {
        self.no_proxy = no_proxy;
        self
    }

    /// The no-proxy list.
    pub fn no_proxy(&self) -> &NoProxy {
        &self.no_proxy
    }

    /// The proxy as `scheme://host:port`, without credentials: how errors and logs
    /// name it.
    pub fn address(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        let endpoint = self.endpoint();
        format!("{scheme}://{}", endpoint.authority())
    }

    /// True when a connection to `host` goes directly, not through the proxy.
    pub fn bypasses(&self, host: &str) -> bool {
        self.no_proxy.matches(host)
    }

    /// The proxy for a client whose origin is `origin_url`, from proxy variables read
    /// through `lookup` (the library never reads the environment itself; the CLI passes
    /// `|name| std::env::var(name).ok()`):
    ///
    /// - `https`/`wss` origins use `https_proxy`, then `HTTPS_PROXY`, then
    ///   `all_proxy`, then `ALL_PROXY`;
    /// - `http`/`ws` origins use `http_proxy`, then `HTTP_PROXY`, then `all_proxy`,
    ///   then `ALL_PROXY`;
    /// - the no-proxy list is `no_proxy`, else `NO_PROXY`.
    ///
    /// The lower-case form wins when both are set; empty values count as unset.
    /// `Ok(None)` when no variable names a proxy; an error when the chosen one does
    /// not parse.
    pub fn from_env(
        origin_url: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, ProxyError> {
        let secure = origin_url.split_once("://").is_some_and(|(scheme, _)| {
            matches!(scheme.to_ascii_lowercase().as_str(), "https" | "wss")
        });
        let names: [&str; 4] = if secure {
            ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        } else {
            ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        };
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|name| lookup(name))
                .map(|value| value.trim().to_owned())
                .find(|value| !value.is_empty())
        };
        let Some(url) = first(&names) else {
            return Ok(None);
        };
        let no_proxy = first(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
        Ok(Some(
            Proxy::new(&url)?.with_no_proxy(NoProxy::parse(&no_proxy)),
        ))
    }

    /// Where the proxy itself is.
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            secure: self.secure,
        }
    }

    /// The `Proxy-Authorization` value, when there are credentials.
    fn authorization(&self) -> Option<String> {
        let (user, password) = self.credentials.as_ref()?;
        let pair = format!("{user}:{}", password.expose());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    fn failed(&self, message: impl Into<String>) -> ConnectFailure {
        ConnectFailure::ProxyFailed {
            proxy: self.address(),
            message: message.into(),
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address())
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// Hosts that bypass the proxy: host names (which also match their subdomains),
/// domain suffixes (`.example.com`), IP addresses, and `*` for every host. Matching
/// ignores ASCII case, a trailing dot and any port in an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    domains: Vec<String>,
    addresses: Vec<IpAddr>,
}

impl NoProxy {
    /// The list in `list`: entries separated by commas or whitespace, as in
    /// `NO_PROXY` (`localhost,.internal.example,10.0.0.7,[::1]`).
    pub fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in list.split([',', ' ', '\t', '\n']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                no_proxy.all = true;
                continue;
            }
            if let Some(address) = parse_address(entry) {
                no_proxy.addresses.push(address);
                continue;
            }
            let name = strip_port(entry)
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if !name.is_empty() {
                no_proxy.domains.push(name);
            }
        }
        no_proxy
    }

    /// True when `host` (a name or an IP address, IPv6 with or without brackets)
    /// is on the list.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = host.parse::<IpAddr>() {
            return self.addresses.contains(&address);
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|domain| {
            host == *domain
                || host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }

    /// True when nothing is on the list.
    pub fn is_empty(&self) -> bool {
        !self.all && self.domains.is_empty() && self.addresses.is_empty()
    }
}

/// An IP address entry, bare or bracketed, with or without a port.
fn parse_address(entry: &str) -> Option<IpAddr> {
    if let Ok(address) = entry.parse() {
        return Some(address);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    strip_port(entry).parse().ok()
}

/// `entry` without a trailing `:port`.
fn strip_port(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        Some((head, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => entry,
    }
}

/// `%XX` escapes decoded; `None` when an escape is malformed or the result is not
/// UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn invalid(reason: String) -> ProxyError {
    ProxyError::InvalidUrl { reason }
}

/// Longest `CONNECT` answer head read from a proxy.
const MAX_ANSWER: usize = 8 * 1024;
/// Most header lines accepted in a `CONNECT` answer.
const MAX_HEADERS: usize = 64;

/// Asks the proxy on `stream` for a tunnel to `target` and reads its answer. On `Ok`
/// the stream carries bytes to and from `target`; a non-2xx answer is
/// [`ConnectFailure::ProxyRefused`], anything else that goes wrong
/// [`ConnectFailure::ProxyFailed`].
pub(crate) async fn tunnel(
    stream: &mut BoxStream,
    proxy: &Proxy,
    target: &Endpoint,
) -> Result<(), ConnectFailure> {
    let authority = target.authority();
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(authorization) = proxy.authorization() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&authorization);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let sent = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await
    };
    sent.await
        .map_err(|e| proxy.failed(format!("failed while sending the CONNECT request: {e}")))?;

    let mut answer = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| {
            proxy.failed(format!("failed while answering the CONNECT request: {e}"))
        })?;
        if n == 0 {
            return Err(proxy.failed("closed the connection without answering the CONNECT request"));
        }
        answer.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&answer) {
            Ok(httparse::Status::Complete(head)) => {
                let status = response.code.unwrap_or_default();
                if !(200..300).contains(&status) {
                    return Err(ConnectFailure::ProxyRefused {
                        proxy: proxy.address(),
                        status,
                    });
                }
                if answer.len() > head {
                    return Err(proxy.failed("sent data before the tunnel opened"));
                }
                return Ok(());
            }
            Ok(httparse::Status::Partial) if answer.len() <= MAX_ANSWER => {}
            Ok(httparse::Status::Partial) => {
                return Err(proxy.failed(format!(
                    "answered the CONNECT request with a head over {MAX_ANSWER} bytes"
                )));
            }
            Err(e) => {
                return Err(proxy.failed(format!(
                    "answered the CONNECT request with something that is not HTTP ({e})"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_address_credentials_and_defaults() {
        let cases = [
            ("http://proxy.test:3128", "http://proxy.test:3128", None),
            ("proxy.test:3128", "http://proxy.test:3128", None),
            ("http://proxy.test", "http://proxy.test:80", None),
            ("https://proxy.test", "https://proxy.test:443", None),
            (
                "HTTP://u:p@proxy.test:8080/",
                "http://proxy.test:8080",
                Some(("u", "p")),
            ),
            (
                "http://u%40corp:p%3Aw@[::1]:3128",
                "http://[::1]:3128",
                Some(("u@corp", "p:w")),
            ),
            (
                "http://user@10.0.0.1:3128",
                "http://10.0.0.1:3128",
                Some(("user", "")),
            ),
        ];
        for (url, address, credentials) in cases {
            let proxy = Proxy::new(url).expect(url);
            assert_eq!(proxy.address(), address, "{url}");
            let got = proxy
                .credentials
                .as_ref()
                .map(|(u, p)| (u.as_str(), p.expose()));
            assert_eq!(got, credentials, "{url}");
        }
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_the_password() {
        for url in [
            "socks5://u:hunter2@proxy.test:1080",
            "http://u:hunter2@",
            "http://u:hunter2@proxy.test:99999",
            "http://u:hunt%zzer2@proxy.test:1",
        ] {
            let err = Proxy::new(url).expect_err(url);
            assert!(!err.to_string().contains("hunt"), "{url}: {err}");
            assert!(!format!("{err:?}").contains("hunt"), "{url}: {err:?}");
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let proxy = Proxy::new("http://alice:s3cret-pw@proxy.test:3128").unwrap();
        let debug = format!("{proxy:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("alice") && debug.contains("redacted"),
            "{debug}"
        );
        assert!(!proxy.address().contains("alice"));
    }

    #[test]
    fn basic_authorization_encodes_user_and_password() {
        let proxy = Proxy::new("http://Aladdin:open%20sesame@proxy.test").unwrap();
        // RFC 7617's example pair.
        assert_eq!(
            proxy.authorization().as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(
            Proxy::new("http://proxy.test").unwrap().authorization(),
            None
        );
    }

    #[test]
    fn no_proxy_matches_names_suffixes_addresses_and_star() {
        let list = NoProxy::parse(
            "localhost, .internal.test,example.org:443 10.1.2.3,[::1]:80, *.wild.test",
        );
        let cases = [
            ("localhost", true),
            ("LOCALHOST.", true),
            ("internal.test", true),
            ("api.internal.test", true),
            ("notinternal.test", false),
            ("example.org", true),
            ("www.example.org", true),
            ("example.org.evil.test", false),
            ("badexample.org", false),
            ("10.1.2.3", true),
            ("10.1.2.4", false),
            ("::1", true),
            ("[::1]", true),
            ("a.wild.test", true),
            ("api.openai.test", false),
        ];
        for (host, bypass) in cases {
            assert_eq!(list.matches(host), bypass, "{host}");
        }
        assert!(NoProxy::parse("*").matches("anything.test"));
        assert!(NoProxy::parse(" , ").is_empty());
        assert!(!NoProxy::parse("").matches("localhost"));
    }

    #[test]
    fn from_env_picks_by_origin_scheme_with_lower_case_first() {
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
        );
        let cases: [Case; 8] = [
            (
                "https://api.test/v1",
                &[("HTTPS_PROXY", "http://s:1")],
                Some("http://s:1"),
            ),
            (
                "wss://api.test/v1",
                &[("https_proxy", "http://s:2")],
                Some("http://s:2"),
            ),
            (
                "https://api.test/v1",
                &[
                    ("https_proxy", "http://lower:1"),
                    ("HTTPS_PROXY", "http://upper:1"),
                ],
                Some("http://lower:1"),
            ),
            ("https://api.test/v1", &[("HTTP_PROXY", "http://h:1")], None),
            (
                "http://api.test/v1",
                &[("HTTP_PROXY", "http://h:1"), ("ALL_PROXY", "http://a:1")],
                Some("http://h:1"),
            ),
            (
                "ws://api.test/v1",
                &[("ALL_PROXY", "http://a:1")],
                Some("http://a:1"),
            ),
            (
                "http://api.test/v1",
                &[("http_proxy", " "), ("all_proxy", "http://a:2")],
                Some("http://a:2"),
            ),
            ("http://api.test/v1", &[], None),
        ];
        for (origin, vars, expected) in cases {
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            let proxy = Proxy::from_env(origin, lookup).expect(origin);
            assert_eq!(
                proxy.map(|p| p.address()).as_deref(),
                expected,
                "{origin} {vars:?}"
            );
        }
    }

    #[test]
    fn from_env_reads_the_no_proxy_list_and_reports_bad_urls() {
        let vars = [
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", "upper.test"),
            ("no_proxy", "lower.test,127.0.0.1"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let proxy = Proxy::from_env("https://api.test", lookup)
            .unwrap()
            .unwrap();
        assert!(proxy.bypasses("lower.test") && proxy.bypasses("127.0.0.1"));
        assert!(!proxy.bypasses("upper.test") && !proxy.bypasses("api.test"));

        let bad = |name: &str| (name == "ALL_PROXY").then(|| "ftp://x:pw@p:1".to_owned());
        assert!(matches!(
            Proxy::from_env("http://api.test", bad),
            Err(ProxyError::InvalidUrl { .. })
        ));
    }
}
