//! Connection set-up failures the driver can name precisely (PROTOCOL.md 3.3): a proxy
//! that refuses or botches the `CONNECT` tunnel, and a server certificate that does not
//! verify. [`classify_connect_failure`] decides what each becomes and whether it is
//! retried; the session applies it to the attempt whose connection failed.

use serde::{Deserialize, Serialize};

use crate::error::{Classified, ResponseError};

/// Why a connection could not be set up, in terms the session can classify. The
/// driver reports it with
/// [`Input::ConnectFailed`](crate::session::Input::ConnectFailed); other transport
/// failures stay [`Input::TransportError`](crate::session::Input::TransportError).
///
/// `proxy` is the proxy's address as `scheme://host:port`, never with credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The proxy answered the `CONNECT` request with a non-2xx status.
    #[error("proxy {proxy} refused the tunnel with status {status}")]
    ProxyRefused {
        /// The proxy, without credentials.
        proxy: String,
        /// The status it answered with.
        status: u16,
    },
    /// The proxy could not be reached, closed the connection, or answered with
    /// something that is not an HTTP response.
    #[error("proxy {proxy}: {message}")]
    ProxyFailed {
        /// The proxy, without credentials.
        proxy: String,
        /// What went wrong, for people.
        message: String,
    },
    /// The server's (or an `https` proxy's) certificate did not verify.
    #[error("invalid peer certificate for {host}: {reason}")]
    Certificate {
        /// The host name the certificate was checked against.
        host: String,
        /// Why it was refused (`UnknownIssuer`, `Expired`, …).
        reason: String,
    },
}

/// What a connection set-up failure becomes (PROTOCOL.md 3.3 and 12):
///
/// | failure | error | retryable |
/// |---|---|---|
/// | proxy refused with 407, 403 or 401 | `Proxy { status: Some(s) }` | no |
/// | proxy refused with any other status | `Proxy { status: Some(s) }` | yes |
/// | proxy unreachable, silent or garbled | `Proxy { status: None }` | yes |
/// | certificate refused | `Certificate { host, reason }` | yes (a transport failure) |
///
/// 401 joins 407 and 403 because some proxies (tinyproxy among them) answer wrong
/// credentials with it: it is a refusal of the credentials either way, which a retry
/// cannot change.
pub fn classify_connect_failure(failure: ConnectFailure) -> Classified {
    match failure {
        ConnectFailure::ProxyRefused { proxy, status } => {
            let retryable = !matches!(status, 401 | 403 | 407);
            let message = format!("refused the tunnel with status {status}");
            let error = ResponseError::Proxy {
                proxy,
                status: Some(status),
                message,
            };
            Classified::new(error, retryable, None)
        }
        ConnectFailure::ProxyFailed { proxy, message } => {
            let error = ResponseError::Proxy {
                proxy,
                status: None,
                message,
            };
            Classified::new(error, true, None)
        }
        ConnectFailure::Certificate { host, reason } => {
            Classified::new(ResponseError::Certificate { host, reason }, true, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16) -> ConnectFailure {
        ConnectFailure::ProxyRefused {
            proxy: "http://proxy.test:3128".to_owned(),
            status,
        }
    }

    #[test]
    fn refusals_and_failures_classify_per_the_table() {
        let cases: [(ConnectFailure, bool); 8] = [
            (refused(407), false),
            (refused(403), false),
            (refused(401), false),
            (refused(502), true),
            (refused(503), true),
            (refused(404), true),
            (
                ConnectFailure::ProxyFailed {
                    proxy: "http://proxy.test:3128".to_owned(),
                    message: "no HTTP answer".to_owned(),
                },
                true,
            ),
            (
                ConnectFailure::Certificate {
                    host: "api.test".to_owned(),
                    reason: "UnknownIssuer".to_owned(),
                },
                true,
            ),
        ];
        for (failure, retryable) in cases {
            let classified = classify_connect_failure(failure.clone());
            assert_eq!(classified.retryable, retryable, "{failure:?}");
            assert!(!classified.unauthorized, "{failure:?}");
            assert_eq!(classified.requested_delay, None, "{failure:?}");
            match (&failure, &classified.error) {
                (
                    ConnectFailure::ProxyRefused { proxy, status },
                    ResponseError::Proxy {
                        proxy: named,
                        status: Some(said),
                        ..
                    },
                ) => assert_eq!((proxy, status), (named, said)),
                (
                    ConnectFailure::ProxyFailed { proxy, .. },
                    ResponseError::Proxy {
                        proxy: named,
                        status: None,
                        ..
                    },
                ) => assert_eq!(proxy, named),
                (
                    ConnectFailure::Certificate { host, reason },
                    ResponseError::Certificate {
                        host: named,
                        reason: why,
                    },
                ) => assert_eq!((host, reason), (named, why)),
                other => panic!("unexpected classification {other:?}"),
            }
        }
    }

    #[test]
    fn the_errors_name_the_proxy_and_the_host() {
        let proxy = classify_connect_failure(refused(407)).error.to_string();
        assert_eq!(
            proxy,
            "proxy error: http://proxy.test:3128 refused the tunnel with status 407"
        );
        let certificate = classify_connect_failure(ConnectFailure::Certificate {
            host: "api.test".to_owned(),
            reason: "UnknownIssuer".to_owned(),
        });
        assert_eq!(
            certificate.error.to_string(),
            "certificate error: invalid peer certificate for api.test: UnknownIssuer"
        );
    }
}
