//! Diagnostics on standard error, switched on by `RUST_LOG`.
//!
//! Only turnwire's own `tracing` events and spans are shown. Records that libraries
//! write through the `log` crate are deliberately not bridged in: the WebSocket
//! library logs its whole handshake request, `Authorization` header included, at the
//! trace level, and credentials must never reach the output.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs a `fmt` subscriber writing to standard error with the filter `RUST_LOG`
/// gives (`RUST_LOG=turnwire_transports=debug`, `RUST_LOG=trace`, …). Call once, first
/// thing in `main`. Without `RUST_LOG` nothing is installed and nothing is printed; a
/// filter that does not parse is reported on standard error and ignored.
#[allow(clippy::disallowed_methods)] // the binary's edge: the user's environment is its input
pub(crate) fn init() {
    if std::env::var_os(EnvFilter::DEFAULT_ENV).is_none() {
        return;
    }
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!("turnwire: ignoring RUST_LOG: {err}");
            return;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
