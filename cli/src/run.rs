//! `turnwire run`: a real client against a real or compatible server.

use std::process::ExitCode;
use std::time::Duration;

use turnwire_protocol::{Config, RequestFields, ResponseError, WsProtocol};
use turnwire_transports::{
    ApiKey, Client, ClientOptions, Error, NoProxy, Proxy, TlsSettings, random_conversation_id,
    random_seed,
};

use crate::args::{RunArgs, TransportChoice, WsProtocolChoice};
use crate::conversation;
use crate::output::Printer;
use crate::record::{self, Header};
use crate::script::Script;

const OPENAI: &str = "https://api.openai.com/v1";

/// Runs the conversation the arguments describe. Exit code 0 only when every request
/// completed.
pub(crate) fn run(args: RunArgs) -> Result<ExitCode, String> {
    let script = match (&args.script, &args.prompt) {
        (Some(path), _) => Script::load(path)?,
        (None, Some(prompt)) => Script::single(prompt.clone()),
        (None, None) => return Err("nothing to run: give a PROMPT or --script FILE".to_owned()),
    };
    let config = config(&args)?;
    let key = match (&args.api_key, args.base_url.trim_end_matches('/') == OPENAI) {
        (Some(key), _) if !key.is_empty() => key.clone(),
        (_, true) => return Err("no API key: pass --api-key KEY or set OPENAI_API_KEY".to_owned()),
        (_, false) => "unused".to_owned(),
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
            turnwire_record: 1,
            config,
            conversation_id,
            seed,
            auth_refreshable: false,
        };
        options.recorder = Some(record::recorder(path, &header)?);
    }
    let preconnect = args.transport != TransportChoice::Http && !args.no_preconnect;
    let mut printer = Printer::stdout(args.json);
    let base_url = args.base_url.clone();
    let outcome = crate::runtime::block_on(args.runtime, |runtime| async move {
        let client = Client::new(runtime, options).map_err(|e| e.to_string())?;
        if preconnect {
            client.preconnect();
        }
        Ok::<_, String>(conversation::run(&client, &fields, &script.turns, &mut printer).await)
    })??;
    if let Some((_, error)) = outcome.failed.first() {
        eprintln!("turnwire: {}", hint(error, &base_url));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
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
fn hint(error: &Error, base_url: &str) -> String {
    match error {
        Error::Response(ResponseError::Certificate { host, reason }) => format!(
            "certificate error: the certificate of {host} did not verify ({reason}); if a private or corporate CA signed it, pass --ca-cert FILE or set SSL_CERT_FILE"
        ),
        Error::Response(ResponseError::Proxy {
            proxy,
            status: Some(401 | 407),
            ..
        }) => format!(
            "proxy error: {proxy} refused the credentials; check the user and password in --proxy or the proxy variable"
        ),
        Error::Response(ResponseError::Proxy { proxy, message, .. }) => format!(
            "proxy error: {proxy} {message}; check --proxy, HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY"
        ),
        Error::Response(ResponseError::Stream { message }) if message.starts_with("connect") => {
            format!(
                "could not reach the server at {base_url} ({message}); is it running, and is --base-url right?"
            )
        }
        Error::Response(ResponseError::Unauthorized { .. }) => {
            "the server refused the credentials (401): check --api-key or OPENAI_API_KEY".to_owned()
        }
        Error::Response(ResponseError::Http { status: 404, .. }) => {
            format!(
                "{base_url}/responses was not found (404): check --base-url (it usually ends in /v1)"
            )
        }
        other => format!("a request failed: {other}"),
    }
}
