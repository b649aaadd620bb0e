//! # turnwire-smol
//!
//! The turnwire client on smol: a [`Runtime`] implementation (async-io timers and
//! TCP, spawning on an executor you choose or smol's global one) and [`client`] to
//! build a [`Client`] with it plugged in. No tokio anywhere in the dependency tree.
//!
//! ```no_run
//! # fn demo() -> Result<(), turnwire_smol::BuildError> {
//! use turnwire_smol::{ApiKey, ClientOptions, Config, RequestFields, TurnOptions};
//! smol::block_on(async {
//!     let client = turnwire_smol::client(ClientOptions::new(Config::default(), ApiKey::new("sk-...")))?;
//!     let turn = client.new_turn(TurnOptions::default());
//!     let _events = turn.stream_text(RequestFields::new("gpt-5"), "Say hello.");
//!     Ok(())
//! })
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::sync::Arc;
use std::time::Instant;

pub use turnwire_transports::*;

/// The smol runtime for the turnwire driver.
#[derive(Clone, Debug, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawns on smol's global executor (`smol::spawn`).
    pub fn global() -> Self {
        SmolRuntime { executor: None }
    }

    /// Spawns on an executor the application runs itself.
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> Self {
        SmolRuntime {
            executor: Some(executor),
        }
    }
}

/// A client whose tasks run on smol's global executor.
pub fn client(options: ClientOptions) -> Result<Client, BuildError> {
    Client::new(Arc::new(SmolRuntime::global()), options)
}

impl Runtime for SmolRuntime {
    fn now(&self) -> Instant {
        #[allow(clippy::disallowed_methods)] // the runtime is where the driver's clock lives
        Instant::now()
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(SmolTimer(smol::Timer::at(deadline)))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        match &self.executor {
            Some(executor) => executor.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
    }

    fn connect(&self, host: String, port: u16) -> BoxFuture<io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = tcp_connect(&host, port).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// A TCP connection to `host:port` with `TCP_NODELAY` set: the driver writes whole
/// requests and frames, so Nagle's algorithm would only delay them.
async fn tcp_connect(host: &str, port: u16) -> io::Result<smol::net::TcpStream> {
    let stream = smol::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[derive(Debug)]
struct SmolTimer(smol::Timer);

impl AsyncTimer for SmolTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_have_nodelay_set() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let stream = smol::block_on(tcp_connect("127.0.0.1", port)).expect("connects");
        assert!(stream.nodelay().expect("reads TCP_NODELAY"));
    }
}
