//! An auth source that can refresh, for scenario 17 (401 → refresh → retry).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use turnwire_protocol::Credentials;
use turnwire_transports::{AuthProvider, BoxFuture};

/// Starts with `initial` and hands out the next of `refreshed` on each refresh; once
/// they run out, a refresh fails. Counts refreshes. Clones share their state.
#[derive(Clone, Debug)]
pub struct RefreshingAuth {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    current: Mutex<String>,
    next: Mutex<Vec<String>>,
    refreshes: AtomicUsize,
}

impl RefreshingAuth {
    /// A source whose token is `initial` until the first refresh.
    pub fn new(initial: &str, refreshed: &[&str]) -> Self {
        let mut next: Vec<String> = refreshed.iter().map(|t| (*t).to_owned()).collect();
        next.reverse();
        RefreshingAuth {
            state: Arc::new(State {
                current: Mutex::new(initial.to_owned()),
                next: Mutex::new(next),
                refreshes: AtomicUsize::new(0),
            }),
        }
    }

    /// How many times the client asked for a refresh.
    pub fn refreshes(&self) -> usize {
        self.state.refreshes.load(Ordering::SeqCst)
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl AuthProvider for RefreshingAuth {
    fn credentials(&self) -> Credentials {
        Credentials::bearer(locked(&self.state.current).clone())
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn refresh(&self) -> BoxFuture<Result<Credentials, String>> {
        let state = self.state.clone();
        Box::pin(async move {
            state.refreshes.fetch_add(1, Ordering::SeqCst);
            let token = locked(&state.next)
                .pop()
                .ok_or_else(|| "no more tokens".to_owned())?;
            *locked(&state.current) = token.clone();
            Ok(Credentials::bearer(token))
        })
    }
}
