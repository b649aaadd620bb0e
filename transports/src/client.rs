//! The public API: a cheaply cloned [`Client`] (session scope), [`Turn`]s (turn scope)
//! and [`ResponseStream`]s (one request each).

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_channel::mpsc;
use futures_util::Stream;
use turnwire_protocol::session::{PrewarmSpec, RequestInput, RequestSpec, TurnOptions};
use turnwire_protocol::{Config, RequestFields, ResponseEvent, ResponseItem};

use crate::driver::{Actor, Command};
use crate::error::{BuildError, StreamError};
use crate::options::ClientOptions;
use crate::runtime::Runtime;

struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    next_handle: AtomicU64,
    conversation_id: String,
    seed: u64,
    stream_buffer: usize,
}

/// A session with one provider, shared by all its turns. Cheap to clone; the
/// background task and every connection end when the last clone, turn and stream are
/// dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("conversation_id", &self.shared.conversation_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client on `runtime` and starts its background task. No I/O happens
    /// until a preconnect or a request. Fails, before anything starts, when the options
    /// cannot work: an invalid configuration, unusable TLS settings, or
    /// `request_compression` in a build without the `zstd` feature.
    pub fn new(runtime: Arc<dyn Runtime>, options: ClientOptions) -> Result<Client, BuildError> {
        check_build_features(&options.config)?;
        let conversation_id = options.conversation_id.clone().unwrap_or_else(random_uuid);
        let seed = options.seed.unwrap_or_else(random_u64);
        let (commands, receiver) = mpsc::unbounded();
        let stream_buffer = options.stream_buffer.max(1);
        let actor = Actor::new(
            runtime.clone(),
            options,
            conversation_id.clone(),
            seed,
            receiver,
        )?;
        runtime.spawn(Box::pin(actor.run()));
        let shared = Shared {
            commands,
            next_handle: AtomicU64::new(1),
            conversation_id,
            seed,
            stream_buffer,
        };
        Ok(Client {
            shared: Arc::new(shared),
        })
    }

    /// The conversation id (`session-id`, `thread-id` and `x-client-request-id` headers).
    pub fn conversation_id(&self) -> &str {
        &self.shared.conversation_id
    }

    /// The jitter seed in use.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Opens a WebSocket ahead of the first turn (PROTOCOL.md section 8). Does nothing
    /// when WebSocket is off or disabled.
    pub fn preconnect(&self) {
        self.send(Command::Preconnect);
    }

    /// Hands the session the prompt prefix it knows before the first request (PROTOCOL.md
    /// 8.2): with `prewarm` enabled and WebSocket usable, the prefix goes to the server
    /// on the session's socket with `"generate": false`, so the first request sends
    /// only what follows it. Start turns with `TurnHistory::Continue` to build on the
    /// prefix. Does nothing once a request started; costs nothing when it fails.
    pub fn prewarm(&self, fields: RequestFields, input: Vec<ResponseItem>) {
        self.send(Command::Prewarm(Box::new(PrewarmSpec { fields, input })));
    }

    /// Starts a turn. No I/O happens until its first request. With
    /// `TurnHistory::Continue` in `options`, the turn starts from the history of the
    /// turn that ended last (or the prewarmed prefix), so its requests may append only
    /// the new items.
    pub fn new_turn(&self, options: TurnOptions) -> Turn {
        let handle = self.handle();
        self.send(Command::StartTurn { handle, options });
        Turn {
            client: self.clone(),
            handle,
        }
    }

    fn handle(&self) -> u64 {
        self.shared.next_handle.fetch_add(1, Ordering::Relaxed)
    }

    fn send(&self, command: Command) {
        // The background task only stops after every sender is gone.
        let _ = self.shared.commands.unbounded_send(command);
    }
}

/// One user turn. Requests inside it run one at a time and share its connection,
/// incremental baseline and turn-state token. Dropping it ends the turn.
#[derive(Debug)]
pub struct Turn {
    client: Client,
    handle: u64,
}

impl Turn {
    /// Starts a request and returns the stream of its events. The stream ends after
    /// `Completed`, `Incomplete` or an error; dropping it earlier cancels the request.
    pub fn stream(&self, spec: RequestSpec) -> ResponseStream {
        let handle = self.client.handle();
        let (events, receiver) = mpsc::channel(self.client.shared.stream_buffer);
        self.client.send(Command::StartRequest {
            turn: self.handle,
            stream: handle,
            spec: Box::new(spec),
            events,
        });
        ResponseStream {
            client: self.client.clone(),
            handle,
            events: receiver,
            finished: false,
        }
    }

    /// Shorthand: appends a user message with `text` to the turn's history and streams
    /// the response.
    pub fn stream_text(&self, fields: RequestFields, text: impl Into<String>) -> ResponseStream {
        let input = RequestInput::Append(vec![ResponseItem::user_text(text)]);
        self.stream(RequestSpec { fields, input })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.client.send(Command::EndTurn { turn: self.handle });
    }
}

/// The events of one request, in order. Yields `Ok` events and ends after a terminal
/// one (`Completed`/`Incomplete`), or yields one `Err` and ends.
pub struct ResponseStream {
    client: Client,
    handle: u64,
    events: mpsc::Receiver<Result<ResponseEvent, StreamError>>,
    finished: bool,
}

impl fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseStream")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Stream for ResponseStream {
    type Item = Result<ResponseEvent, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.events).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if item.as_ref().map_or(true, ResponseEvent::is_terminal) {
                    self.finished = true;
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Err(StreamError::Shutdown)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        if !self.finished {
            self.client.send(Command::Cancel {
                stream: self.handle,
            });
        }
    }
}

/// Refuses a configuration this build cannot carry out: request compression needs the
/// `zstd` feature, and without it every request would fail and be retried.
fn check_build_features(config: &Config) -> Result<(), BuildError> {
    if config.request_compression && !cfg!(feature = "zstd") {
        return Err(BuildError::CompressionUnavailable);
    }
    Ok(())
}

/// A fresh jitter seed (64 random bits), for callers that must know the seed before
/// the client exists (to record it, say).
pub fn random_seed() -> u64 {
    random_u64()
}

/// A fresh random (version 4) UUID for a conversation id.
pub fn random_conversation_id() -> String {
    random_uuid()
}

/// 64 random bits from the standard library's per-process hash keys.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x7475_726e_7769_7265);
    hasher.finish()
}

/// A random (version 4) UUID.
fn random_uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    let a = (a & !0xf000) | 0x4000; // version 4
    let b = (b & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_compression_builds_only_with_the_zstd_feature() {
        let mut config = Config::default();
        assert_eq!(check_build_features(&config), Ok(()));
        config.request_compression = true;
        let expected = if cfg!(feature = "zstd") {
            Ok(())
        } else {
            Err(BuildError::CompressionUnavailable)
        };
        assert_eq!(check_build_features(&config), expected);
    }

    #[test]
    fn uuids_have_the_v4_shape_and_differ() {
        let (a, b) = (random_uuid(), random_uuid());
        assert_ne!(a, b);
        for id in [a, b] {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{id}"
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(
                matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
        }
    }
}
