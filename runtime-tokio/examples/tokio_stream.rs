//! Streams one turn on tokio.
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p turnwire-tokio --example tokio_stream -- "Say hello."
//! cargo run -p turnwire-tokio --example tokio_stream -- --base-url http://127.0.0.1:8080/v1 "Say hello."
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)] // an example prints and reads its key from the environment

use futures_util::StreamExt;
use turnwire_tokio::{ApiKey, ClientOptions, Config, RequestFields, ResponseEvent, TurnOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let base_url = match args.iter().position(|a| a == "--base-url") {
        Some(i) if i + 1 < args.len() => Some(args.drain(i..=i + 1).nth(1).unwrap_or_default()),
        _ => None,
    };
    let prompt = args.join(" ");
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_else(|_| "unused".to_owned());
    let config = base_url.map(Config::new).unwrap_or_default();
    let client = turnwire_tokio::client(ClientOptions::new(config, ApiKey::new(key)))?;
    let turn = client.new_turn(TurnOptions::default());
    let mut events = turn.stream_text(RequestFields::new("gpt-5"), prompt);
    while let Some(event) = events.next().await {
        match event? {
            ResponseEvent::OutputTextDelta { delta, .. } => print!("{delta}"),
            ResponseEvent::Reconnecting { attempt, max, .. } => {
                eprintln!("\n[reconnecting {attempt}/{max}]")
            }
            ResponseEvent::Completed { usage, .. } => println!("\n[done: {usage:?}]"),
            _ => {}
        }
    }
    Ok(())
}
