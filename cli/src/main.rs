//! `turnwire`: stream model responses over WebSocket and HTTP, and debug the streams.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

mod args;
mod conversation;
mod decode;
mod demo;
mod logging;
mod output;
mod record;
mod run;
mod runtime;
mod script;
mod serve;
mod summary;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use output::Printer;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Decode { jsonl, sse, file } => {
            let format = match (jsonl, sse) {
                (true, _) => Some(decode::Format::JsonLines),
                (_, true) => Some(decode::Format::Sse),
                _ => None,
            };
            decode::decode(format, file.as_deref(), &mut Printer::stdout(true))
        }
        Command::Replay { file } => {
            let mut printer = Printer::stdout(true);
            record::replay(&file, &mut printer).map(|all_completed| {
                if all_completed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            })
        }
        Command::Demo { runtime, json } => demo::demo(runtime, json),
        Command::Serve(args) => serve::serve(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("turnwire: error: {message}");
            ExitCode::from(2)
        }
    }
}
