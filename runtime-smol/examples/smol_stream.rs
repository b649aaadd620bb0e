//! Streams one turn on smol, with no tokio anywhere.
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p turnwire-smol --example smol_stream -- "Say hello."
//! cargo run -p turnwire-smol --example smol_stream -- --base-url http://127.0.0.1:8080/v1 "Say hello."
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)] // an example prints and reads its key from the environment

use futures_util::StreamExt;
use turnwire_smol::{ApiKey, ClientOptions, Config, RequestFields, ResponseEvent, TurnOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = Config::default();
    if let Some(i) = args
        .iter()
        .position(|a| a == "--base-url")
        .filter(|i| i + 1 < args.len())
    {
        config.base_url = args.remove(i + 1);
        args.remove(i);
    }
    let prompt = args.join(" ");
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_else(|_| "unused".to_owned());
    smol::block_on(async {
        let client = turnwire_smol::client(ClientOptions::new(config, ApiKey::new(key)))?;
        let turn = client.new_turn(TurnOptions::default());
        let mut events = turn.stream_text(RequestFields::new("gpt-5"), prompt);
        while let Some(event) = events.next().await {
            if let ResponseEvent::OutputTextDelta { delta, .. } = event? {
                print!("{delta}");
            }
        }
        println!();
        Ok(())
    })
}
