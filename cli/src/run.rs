//! `turnwire run`: a real client against a real or compatible server.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use turnwire_testkit::record::Header;
use turnwire_transports::{
    ApiKey, Client, ClientOptions, Config, NoProxy, Proxy, RequestFields, ResponseError,
    StreamError, TlsSettings, TurnHistory, WsProtocol, random_conversation_id, random_seed,
};

use crate::args::{RunArgs, TransportChoice, WsProtocolChoice};
use crate::conversation;
use crate::output::Printer;
use crate::record;
use crate::script::Script;

const OPENAI: &str = "https://api.openai.com/v1";

/// Runs the conversation the arguments describe. Exit code 0 only when every request
/// completed.
pub(crate) fn run(args: RunArgs) -> Result<ExitCode, String> {
    let (script, chat) = match (&args.script, &args.prompt) {
        (Some(path), _) => (Script::load(path)?, false),
        (None, Some(prompt)) if prompt == "-" => (Script::default(), true),
        (None, Some(prompt)) => (Script::single(prompt.clone()), false),
        (None, None) => {
            return Err(
                "nothing to run: give a PROMPT, - to chat over standard input, or --script FILE"
                    .to_owned(),
            );
        }
    };
    let config = config(&args)?;
    let key = match (
        api_key(&args)?,
        args.base_url.trim_end_matches('/') == OPENAI,
    ) {
        (Some(key), _) => key,
        (None, true) => {
            return Err("no API key: set OPENAI_API_KEY or pass --api-key-file FILE".to_owned());
        }
        (None, false) => "unused".to_owned(),
    };
    let mut fields = RequestFields::new(script.model.clone().unwrap_or_else(|| args.model.clone()));
    fields.instructions = script
        .instructions
        .clone()
        .or_else(|| args.instructions.clone());

    let conversation_id = random_conversation_id();
    let seed = random_seed();
    let mut options = ClientOptions::new(config.clone(), ApiKey::new(key));
    options.conversation_id = Some(conversation_id.clone());
    options.seed = Some(seed);
    // The CLI is where the environment is read; the library only gets the lookup.
    #[allow(clippy::disallowed_methods)]
    let env = |name: &str| std::env::var(name).ok();
    options.proxy = proxy(&args, env)?;
    options.tls = trust(&args, env)?;
    if let Some(path) = &args.record {
        let header = Header {
            turnwire_record: turnwire_testkit::record::VERSION,
            config,
            conversation_id,
            seed,
            auth_refreshable: false,
        };
        options.recorder = Some(record::recorder(path, &header, args.record_max_bytes)?);
    }
    // A socket ahead of the first request: preconnected, and prewarmed with the model
    // and instructions (the prefix every turn shares) so the first request chains to it.
    let preconnect = args.transport != TransportChoice::Http && !args.no_preconnect;
    let mut printer = Printer::stdout(args.json);
    let base_url = args.base_url.clone();
    let outcome = crate::runtime::block_on(args.runtime, |runtime| async move {
        let client = Client::new(runtime, options).map_err(|e| e.to_string())?;
        if preconnect {
            client.preconnect();
            client.prewarm(fields.clone(), Vec::new());
        }
        let history = TurnHistory::Continue;
        let outcome = if chat {
            conversation::run(&client, &fields, history, chat_turns(), &mut printer).await
        } else {
            conversation::run(&client, &fields, history, script.turns, &mut printer).await
        };
        Ok::<_, String>(outcome)
    })??;
    if let Some((_, error)) = outcome.failed.first() {
        eprintln!("turnwire: {}", hint(error, &base_url));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The chat's turns: one per line of standard input (blank lines skipped), each read
/// only when the previous turn has ended; the chat ends with the input.
fn chat_turns() -> impl Iterator<Item = Vec<String>> {
    std::io::stdin()
        .lines()
        .map_while(Result::ok)
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .map(|line| vec![line])
}

/// The longest key file read; keys are far shorter.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The API key from `--api-key-file`, `--api-key` (with a warning: other users can
/// read a command line) or `OPENAI_API_KEY`, in that order; `None` when none is set or
/// it is empty. Errors never quote the file's contents.
#[allow(clippy::disallowed_methods)] // the binary's edge: the user's environment is its input
fn api_key(args: &RunArgs) -> Result<Option<String>, String> {
    if let Some(path) = &args.api_key_file {
        return read_key_file(path).map(Some);
    }
    if let Some(key) = &args.api_key {
        eprintln!(
            "turnwire: warning: --api-key on a command line is visible to other users of this machine; prefer --api-key-file FILE or OPENAI_API_KEY"
        );
        return Ok(Some(key.clone()).filter(|k| !k.is_empty()));
    }
    Ok(std::env::var("OPENAI_API_KEY")
        .ok()
        .filter(|k| !k.is_empty()))
}

/// Reads a key file: one line, the trailing newline (`\n` or `\r\n`) dropped.
fn read_key_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open the API key file {}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the API key file {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(format!(
            "the API key file {} is larger than {MAX_KEY_FILE} bytes",
            path.display()
        ));
    }
    let key = text
        .strip_suffix('\n')
        .map(|k| k.strip_suffix('\r').unwrap_or(k))
        .unwrap_or(&text);
    if key.is_empty() {
        return Err(format!("the API key file {} is empty", path.display()));
    }
    if key.contains(['\r', '\n']) {
        return Err(format!(
            "the API key file {} holds more than one line",
            path.display()
        ));
    }
    Ok(key.to_owned())
}

fn config(args: &RunArgs) -> Result<Config, String> {
    let mut config = Config::new(args.base_url.clone());
    config.websockets = args.transport != TransportChoice::Http;
    config.ws_protocol = match args.ws_protocol {
        WsProtocolChoice::V1 => WsProtocol::V1,
        WsProtocolChoice::V2 => WsProtocol::V2,
    };
    config.preconnect = Some(!args.no_preconnect);
    if let Some(n) = args.request_max_retries {
        config.request_max_retries = n;
    }
    if let Some(n) = args.stream_max_retries {
        config.stream_max_retries = n;
    }
    if let Some(ms) = args.idle_timeout_ms {
        config.stream_idle_timeout = Duration::from_millis(ms);
    }
    config.validate().map_err(|e| {
        format!(
            "{e}\n  a base URL looks like https://api.openai.com/v1 or http://127.0.0.1:8080/v1"
        )
    })
}

/// The proxy setting: `--proxy URL`, else the proxy variables for the base URL's
/// scheme; `--no-proxy HOSTS` replaces the `NO_PROXY` list.
fn proxy(args: &RunArgs, env: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>, String> {
    let no_proxy_env = || {
        ["no_proxy", "NO_PROXY"]
            .into_iter()
            .filter_map(&env)
            .find(|v| !v.trim().is_empty())
            .unwrap_or_default()
    };
    let proxy = match &args.proxy {
        Some(url) => {
            let proxy = Proxy::new(url).map_err(|e| format!("--proxy: {e}"))?;
            Some(proxy.with_no_proxy(NoProxy::parse(&no_proxy_env())))
        }
        None => {
            Proxy::from_env(&args.base_url, &env).map_err(|e| format!("proxy variable: {e}"))?
        }
    };
    Ok(match (&args.no_proxy, proxy) {
        (Some(list), Some(proxy)) => Some(proxy.with_no_proxy(NoProxy::parse(list))),
        (_, proxy) => proxy,
    })
}

/// The trust policy: the platform's roots, plus `SSL_CERT_FILE` when set, plus every
/// `--ca-cert FILE`.
fn trust(args: &RunArgs, env: impl Fn(&str) -> Option<String>) -> Result<TlsSettings, String> {
    let mut tls = TlsSettings::default();
    if let Some(file) = env("SSL_CERT_FILE").filter(|f| !f.trim().is_empty()) {
        tls = tls
            .with_ca_file(file.trim())
            .map_err(|e| format!("SSL_CERT_FILE: {e}"))?;
    }
    for file in &args.ca_cert {
        tls = tls
            .with_ca_file(file)
            .map_err(|e| format!("--ca-cert: {e}"))?;
    }
    Ok(tls)
}

/// A sentence that says what went wrong and what to try.
fn hint(error: &StreamError, base_url: &str) -> String {
    match error {
        StreamError::Response(ResponseError::Certificate { host, reason }) => format!(
            "certificate error: the certificate of {host} did not verify ({reason}); if a private or corporate CA signed it, pass --ca-cert FILE or set SSL_CERT_FILE"
        ),
        StreamError::Response(ResponseError::Proxy {
            proxy,
            status: Some(401 | 407),
            ..
        }) => format!(
            "proxy error: {proxy} refused the credentials; check the user and password in --proxy or the proxy variable"
        ),
        StreamError::Response(ResponseError::Proxy { proxy, message, .. }) => format!(
            "proxy error: {proxy} {message}; check --proxy, HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY"
        ),
        StreamError::Response(ResponseError::Stream { message }) => transport_hint(message, base_url),
        StreamError::Response(ResponseError::Unauthorized { .. }) => {
            "the server refused the credentials (401): check the key (--api-key-file, --api-key or OPENAI_API_KEY)".to_owned()
        }
        StreamError::Response(ResponseError::Http { status: 404, .. }) => {
            format!(
                "{base_url}/responses was not found (404): check --base-url (it usually ends in /v1)"
            )
        }
        other => format!("a request failed: {other}"),
    }
}

/// What a transport failure was, from the driver's message: the server could not be
/// reached (refused, unreachable, unknown name), it did not answer in time, the TLS
/// handshake failed, or the exchange broke off or was malformed.
fn transport_hint(message: &str, base_url: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let connecting = lower.starts_with("connect ");
    if lower.contains("timeout") || lower.contains("timed out") {
        return format!("the server at {base_url} did not answer in time ({message})");
    }
    if connecting && UNREACHABLE.iter().any(|sign| lower.contains(sign)) {
        return format!(
            "could not reach the server at {base_url} ({message}); is it running, and is --base-url right?"
        );
    }
    if connecting && base_url.starts_with("https:") {
        return format!(
            "the TLS handshake with the server at {base_url} failed ({message}); does it speak HTTPS, and is its certificate trusted?"
        );
    }
    if connecting {
        return format!("connecting to the server at {base_url} failed ({message})");
    }
    format!(
        "the exchange with the server at {base_url} failed: the connection broke off or the reply was malformed ({message})"
    )
}

/// Words in a connect error that mean no server answered at that address.
const UNREACHABLE: &[&str] = &[
    "connection refused",
    "unreachable",
    "no route to host",
    "failed to lookup address",
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no such host",
    "address not available",
    "cannot assign requested address",
];

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:9/v1";

    #[test]
    fn only_a_failed_connect_means_the_server_could_not_be_reached() {
        let unreachable = [
            "connect 127.0.0.1:9: Connection refused (os error 111)",
            "connect 10.0.0.1:80: No route to host (os error 113)",
            "connect 10.0.0.1:80: Network is unreachable (os error 101)",
            "connect nowhere.invalid:80: failed to lookup address information: Name or service not known",
        ];
        for message in unreachable {
            assert!(
                transport_hint(message, URL).starts_with("could not reach the server"),
                "{message}"
            );
        }
        let reached = [
            (
                "connect timeout: no HTTP response head in time",
                "did not answer in time",
            ),
            (
                "connect timeout: WebSocket handshake took too long",
                "did not answer in time",
            ),
            ("idle timeout waiting for SSE", "did not answer in time"),
            (
                "connect 127.0.0.1:9: Connection timed out (os error 110)",
                "did not answer in time",
            ),
            (
                "stream closed before response.completed",
                "broke off or the reply was malformed",
            ),
            (
                "reading the response: Connection reset by peer (os error 104)",
                "broke off",
            ),
            ("invalid HTTP response head", "malformed"),
        ];
        for (message, wording) in reached {
            let hint = transport_hint(message, URL);
            assert!(!hint.contains("could not reach"), "{message}: {hint}");
            assert!(hint.contains(wording), "{message}: {hint}");
            assert!(hint.contains(message), "the detail is kept: {hint}");
        }
    }

    #[test]
    fn a_connect_error_over_https_that_is_no_refusal_is_the_tls_handshake() {
        let hint = transport_hint(
            "connect 127.0.0.1:9: received corrupt message of type InvalidContentType",
            "https://127.0.0.1:9/v1",
        );
        assert!(hint.starts_with("the TLS handshake"), "{hint}");
        let hint = transport_hint(
            "connect 127.0.0.1:9: Connection refused (os error 111)",
            "https://127.0.0.1:9/v1",
        );
        assert!(hint.starts_with("could not reach"), "{hint}");
    }
}
