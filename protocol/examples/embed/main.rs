//! Drives the sans-IO core with nothing but the standard library's blocking sockets:
//! no async runtime, no futures, no threads.
//!
//! ```sh
//! cargo run -p turnwire-protocol --example embed -- --base-url http://127.0.0.1:8080/v1 "What is 2 + 3?"
//! cargo run -p turnwire-protocol --example embed -- --base-url https://api.openai.com/v1 --api-key sk-… "What is 2 + 3?"
//! ```
//!
//! Options: `--base-url URL` (required), `--api-key KEY` (else `OPENAI_API_KEY`, else
//! none), `--model NAME` (default `gpt-5`), `--ca-cert FILE` (roots to trust for
//! `https` besides the bundled web roots: PEM, or one DER certificate), then the
//! prompt.
//!
//! The conversation: the prompt goes out with one function tool, `add`, declared. When
//! the model calls it, the example runs it here, sends the `function_call_output`,
//! and streams the follow-up, until a response asks for no more calls. Text goes to
//! standard output; retries, tool calls and the outcome go to standard error. The exit
//! code is 0 only when every response completed.
//!
//! How it is built, one module per job:
//! - [`clock`]: the only place that reads the clock; time goes into the core as `Now`.
//! - [`net`]: opening a TCP connection, with TLS (rustls' blocking `StreamOwned`) for
//!   `https`, and reading with a deadline through the socket's read timeout.
//! - [`exchange`]: one HTTP exchange: the core's [`http1`](turnwire_protocol::http1)
//!   codec writes the request and turns the response bytes into session inputs.
//! - [`driver`]: the loop of the core's drain rule: feed an input, drain
//!   `poll_output`, wait for bytes or `poll_timeout`, repeat.
//! - [`tool`]: the function tool the model may call.
//!
//! HTTP only: the session is configured without WebSocket, since a WebSocket needs a
//! frame codec the core does not have. The session's idle and connect timeouts and its
//! backoff all come from `poll_timeout`; a blocking read simply times out at that
//! deadline.
#![allow(clippy::print_stdout, clippy::print_stderr)] // an example talks to its user

mod args;
mod clock;
mod driver;
mod exchange;
mod net;
mod tool;

use std::process::ExitCode;

use turnwire_protocol::item::ResponseItem;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{RequestInput, RequestSpec, Session, SessionParams, TurnOptions};
use turnwire_protocol::{Config, Credentials};

use driver::{Driver, Outcome};

/// Most model responses in one conversation (each tool round is one more).
const MAX_ROUNDS: usize = 4;

fn main() -> ExitCode {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match converse(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("[failed] {message}");
            ExitCode::FAILURE
        }
    }
}

/// The whole conversation: the prompt, then one follow-up per round of tool calls.
fn converse(args: &args::Args) -> Result<(), String> {
    let mut config = Config::new(args.base_url.clone());
    config.websockets = false;
    let clock = clock::Clock::start();
    let session = Session::new(SessionParams {
        config,
        credentials: Credentials::bearer(args.api_key.clone()),
        auth_refreshable: false,
        conversation_id: format!("embed-{}", clock.seed()),
        seed: clock.seed(),
    })
    .map_err(|e| format!("invalid configuration: {e}"))?;
    let tls = net::tls_config(args.ca_cert.as_deref())?;
    let mut driver = Driver::new(session, clock, tls);

    let turn = driver.start_turn(TurnOptions::default())?;
    let mut fields = RequestFields::new(args.model.clone());
    fields.tools = vec![tool::definition()];
    let mut input = vec![ResponseItem::user_text(args.prompt.clone())];
    for round in 1..=MAX_ROUNDS {
        let spec = RequestSpec {
            fields: fields.clone(),
            input: RequestInput::Append(std::mem::take(&mut input)),
        };
        let Outcome { completed, calls } = driver.stream(turn, spec)?;
        println!();
        eprintln!("[response {round}: {completed}]");
        if calls.is_empty() {
            driver.end_turn(turn)?;
            return Ok(());
        }
        for call in calls {
            let output = tool::run(&call.name, &call.arguments);
            eprintln!("[tool] {}({}) = {output}", call.name, call.arguments);
            input.push(ResponseItem::function_call_output(call.call_id, output));
        }
    }
    Err(format!(
        "the model still calls tools after {MAX_ROUNDS} responses"
    ))
}
