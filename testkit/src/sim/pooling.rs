//! The simulator's model of the driver's HTTP keep-alive pool (PROTOCOL.md section
//! 3.3), with the core's own pool policy: session connections are mapped onto
//! simulated TCP connections, a TCP connection goes back to the pool when its response
//! ended by its framing without `Connection: close` (the session read the end, or
//! closed it as finished), and the fake server's
//! [`KeepAliveScript`](super::KeepAliveScript) decides when it ends an idle one. A
//! request sent on a TCP connection the server ended as the request arrived gets
//! [`Input::HttpStale`], as the driver reports it.

use std::collections::{BTreeMap, BTreeSet};

use turnwire_protocol::pool::{IdlePool, PoolLimits};
use turnwire_protocol::session::{ConnId, Input};
use turnwire_protocol::time::Instant;

use super::keepalive::IdleFate;
use super::server::Emission;

/// Where a new HTTP request went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A new TCP connection.
    Fresh,
    /// An idle pooled one.
    Reused,
    /// A pooled one the server closed as the request arrived: the request never
    /// reached the server.
    Stale,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct PoolModel {
    pool: IdlePool<(), u64>,
    tcp_of: BTreeMap<ConnId, u64>,
    /// Session connections whose response the server ended by its framing, on a
    /// connection it keeps open.
    clean: BTreeSet<ConnId>,
    /// TCP connections the server closed while idle (a liveness check sees it).
    dead: BTreeSet<u64>,
    /// TCP connections the server closes when the next request arrives.
    drop_next: BTreeSet<u64>,
    opened: u64,
}

impl PoolModel {
    pub(crate) fn new(limits: PoolLimits) -> Self {
        PoolModel {
            pool: IdlePool::new(limits),
            tcp_of: BTreeMap::new(),
            clean: BTreeSet::new(),
            dead: BTreeSet::new(),
            drop_next: BTreeSet::new(),
            opened: 0,
        }
    }

    /// TCP connections opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened
    }

    /// Places the request of `conn`: on a pooled TCP connection when `reuse` allows
    /// and one is alive, else on a new one. `drops_arrival` asks the server's script
    /// whether a request arriving on a reused connection is refused.
    pub(crate) fn place(
        &mut self,
        now: Instant,
        conn: ConnId,
        reuse: bool,
        drops_arrival: impl FnOnce() -> bool,
    ) -> Placement {
        if reuse {
            while let Some(tcp) = self.pool.take(now, &()) {
                if self.dead.remove(&tcp) {
                    continue; // the driver's liveness check saw the close
                }
                if self.drop_next.remove(&tcp) || drops_arrival() {
                    return Placement::Stale;
                }
                self.tcp_of.insert(conn, tcp);
                return Placement::Reused;
            }
        }
        self.opened += 1;
        self.tcp_of.insert(conn, self.opened);
        Placement::Fresh
    }

    /// True when the server's reply to `conn` ends by its framing and keeps the
    /// connection open (no `Connection: close`).
    pub(crate) fn ends_cleanly(emissions: &[Emission]) -> bool {
        let mut ended = false;
        for emission in emissions {
            match &emission.input {
                Input::HttpResponse { headers, .. } => {
                    let closes = headers
                        .get_all(http::header::CONNECTION)
                        .iter()
                        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                    if closes {
                        return false;
                    }
                }
                Input::HttpEnd { .. } => ended = true,
                Input::TransportError { .. } => return false,
                _ => {}
            }
        }
        ended
    }

    /// The server replied cleanly on `conn`; `fate` is what it then does with the
    /// idle connection.
    pub(crate) fn replied_cleanly(&mut self, conn: ConnId, fate: IdleFate) {
        let Some(&tcp) = self.tcp_of.get(&conn) else {
            return;
        };
        self.clean.insert(conn);
        match fate {
            IdleFate::Keep => {}
            IdleFate::Close | IdleFate::CloseAfter(_) => {
                self.dead.insert(tcp);
            }
            IdleFate::DropNext => {
                self.drop_next.insert(tcp);
            }
        }
    }

    /// The session is done with `conn`: `finished` when its response ended (the end
    /// of body was read, or the session closed it as finished and the driver reads
    /// the rest). A clean connection goes back to the pool.
    pub(crate) fn released(&mut self, now: Instant, conn: ConnId, finished: bool) {
        let Some(tcp) = self.tcp_of.remove(&conn) else {
            return;
        };
        if self.clean.remove(&conn) && finished {
            let _evicted = self.pool.put(now, (), tcp);
        }
    }
}
