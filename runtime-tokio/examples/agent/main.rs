//! A tool-calling agent on tokio: it offers the model an `add` function, runs it when
//! the model calls it, sends the result back as a `function_call_output` and streams
//! the follow-up answer.
//!
//! ```sh
//! # against the embedded loopback server and its spec-complete model (no account, no network)
//! cargo run -p turnwire-tokio --example agent -- "What is 2 + 3?"
//! # against a real server; the key comes from --api-key-file, else OPENAI_API_KEY
//! cargo run -p turnwire-tokio --example agent -- --base-url https://api.openai.com/v1 --api-key-file key.txt --model gpt-5 "What is 2 + 3?"
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)] // an example prints and reads its key from the environment

#[allow(dead_code)] // the example and its test (tests/agent.rs) each use a part of it
mod agent_loop;

use std::io::Write;

use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;
use turnwire_tokio::{ApiKey, ClientOptions, Config};

use agent_loop::Step;

/// The command line: `[--base-url URL] [--api-key-file FILE] [--model M] PROMPT…`.
struct Args {
    base_url: Option<String>,
    api_key_file: Option<String>,
    model: String,
    prompt: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        base_url: None,
        api_key_file: None,
        model: "gpt-5".to_owned(),
        prompt: String::new(),
    };
    let mut words = Vec::new();
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--base-url" => args.base_url = Some(value("--base-url")?),
            "--api-key-file" => args.api_key_file = Some(value("--api-key-file")?),
            "--model" => args.model = value("--model")?,
            _ => words.push(arg),
        }
    }
    args.prompt = words.join(" ");
    if args.prompt.is_empty() {
        args.prompt = "What is 2 + 3?".to_owned();
    }
    Ok(args)
}

/// The API key: the first line of `--api-key-file`, else `OPENAI_API_KEY`.
fn api_key(file: Option<&str>) -> Result<String, String> {
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(|text| text.lines().next().unwrap_or_default().trim().to_owned())
            .map_err(|e| format!("cannot read the API key file {path}: {e}")),
        None => std::env::var("OPENAI_API_KEY")
            .map_err(|_| "no API key: pass --api-key-file FILE or set OPENAI_API_KEY".to_owned()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // Without --base-url, the embedded loopback server answers: its spec-complete model
    // calls the first function tool offered and answers in text once the output is back.
    let (_server, base_url, key) = match args.base_url {
        Some(url) => (None, url, api_key(args.api_key_file.as_deref())?),
        None => {
            let server = LoopbackServer::start(FakeServer::spec_complete())?;
            let url = server.base_url();
            eprintln!("[loopback server at {url}]");
            (Some(server), url, "unused".to_owned())
        }
    };
    let client =
        turnwire_tokio::client(ClientOptions::new(Config::new(base_url), ApiKey::new(key)))?;
    let answer = agent_loop::answer(&client, &args.model, &args.prompt, |step| match step {
        Step::Text(delta) => {
            print!("{delta}");
            let _ = std::io::stdout().flush();
        }
        Step::ToolCall {
            name,
            arguments,
            output,
            ..
        } => eprintln!("[tool {name}({arguments}) -> {output}]"),
        Step::Retrying { attempt, max } => eprintln!("[retrying {attempt}/{max}]"),
    })
    .await?;
    println!();
    eprintln!("[{} requests]", answer.requests);
    Ok(())
}
