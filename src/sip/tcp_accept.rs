//! SIP over TCP: carecall's own accept loop in front of rsipstack's connections.
//!
//! rsipstack's listener accepts without bound, logs every accept error and
//! retries at once (under EMFILE that is a busy loop writing a WARN line per
//! turn), and keeps a connection that never sends a request until its idle
//! timeout. Here every accepted stream first asks [`IngressGuard`] (per-source
//! rate and bans, per-source and total connection caps); a refused one is closed
//! at once. An admitted stream is handed to rsipstack as a `TcpConnection` (it
//! parses, answers and retires it as before) and watched: if no complete request
//! arrived within `first_request`, the socket is shut down, which ends
//! rsipstack's read loop. Accept errors back off (10 ms doubling to 1 s).
//!
//! Each connection costs two descriptors (rsipstack's and the watcher's
//! duplicate used for `shutdown(2)`), so the total cap is held well below
//! `RLIMIT_NOFILE`, whose soft limit [`raise_nofile_limit`] lifts to the hard one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::ingress::IngressGuard;

/// The guard shared by the UDP whitelist, this loop and the registrar.
pub type SharedIngress = Arc<Mutex<IngressGuard>>;

/// Locks the guard; a panic elsewhere cannot leave it unusable.
pub fn lock(guard: &SharedIngress) -> std::sync::MutexGuard<'_, IngressGuard> {
    guard.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wall-clock milliseconds for the guard's buckets.
pub fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// TCP connections that have not yet delivered a complete request, keyed by
/// the peer's address. Only connections accepted here are tracked, so the map
/// is bounded by the connection cap.
#[derive(Default)]
pub struct FirstRequests {
    pending: Mutex<HashMap<SocketAddr, bool>>,
}

impl FirstRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, bool>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watch(&self, peer: SocketAddr) {
        self.lock().insert(peer, false);
    }

    /// A request arrived over the connection from `peer`.
    pub fn arrived(&self, peer: SocketAddr) {
        if let Some(seen) = self.lock().get_mut(&peer) {
            *seen = true;
        }
    }

    fn seen(&self, peer: SocketAddr) -> bool {
        self.lock().get(&peer).copied().unwrap_or(true)
    }

    fn forget(&self, peer: SocketAddr) {
        self.lock().remove(&peer);
    }
}

/// What the accept loop needs.
pub struct Acceptor {
    pub endpoint: EndpointInnerRef,
    pub local: SipAddr,
    pub guard: SharedIngress,
    pub first: Arc<FirstRequests>,
    pub first_request: Duration,
    pub cancel: CancellationToken,
}

const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts until `cancel`.
pub async fn serve(listener: TcpListener, a: Acceptor) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            _ = a.cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE/ENFILE/ENOBUFS: nothing to do but wait for descriptors.
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "SIP TCP accept failed; backing off");
                tokio::select! {
                    _ = a.cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        if let Err(why) = lock(&a.guard).open_connection(peer.ip(), now_ms()) {
            debug!(%peer, %why, "SIP TCP connection refused");
            continue;
        }
        // A descriptor of our own on the same socket, so that the watcher can
        // shut it down whatever rsipstack does with its half.
        let dup = match stream.as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => {
                lock(&a.guard).close_connection(peer.ip());
                warn!(error = %e, "SIP TCP: cannot duplicate the socket; connection closed");
                continue;
            }
        };
        let token = a.cancel.child_token();
        let conn = match TcpConnection::from_stream(stream, a.local.clone(), Some(token.clone())) {
            Ok(c) => c,
            Err(e) => {
                lock(&a.guard).close_connection(peer.ip());
                debug!(error = %e, "SIP TCP: connection lost before it was served");
                continue;
            }
        };
        a.first.watch(peer);
        a.endpoint
            .transport_layer
            .add_connection(SipConnection::Tcp(conn));
        tokio::spawn(watch(
            peer,
            dup,
            token,
            a.first.clone(),
            a.guard.clone(),
            a.first_request,
        ));
    }
}

/// Closes the connection from `peer` if it sends no complete request within
/// `first_request`; releases its place when rsipstack retires it (which
/// cancels `token`).
async fn watch(
    peer: SocketAddr,
    fd: OwnedFd,
    token: CancellationToken,
    first: Arc<FirstRequests>,
    guard: SharedIngress,
    first_request: Duration,
) {
    tokio::select! {
        _ = token.cancelled() => {}
        _ = tokio::time::sleep(first_request) => {
            if !first.seen(peer) {
                debug!(%peer, "SIP TCP: no request in time; closing");
                // Wakes rsipstack's read with end-of-file; it then retires the
                // connection and cancels `token`.
                let _ = rustix::net::shutdown(&fd, rustix::net::Shutdown::Both);
            }
            token.cancelled().await;
        }
    }
    first.forget(peer);
    lock(&guard).close_connection(peer.ip());
    drop(fd);
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft
/// limit (None if unknown), so that caps below it hold before EMFILE does.
pub fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
        && cur < max
    {
        lim.current = Some(max);
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            warn!(error = %e, "cannot raise the open-files limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    info!(limit = ?now, "open-files limit");
    now
}

/// The TCP total to use: the configured one, lowered so that two descriptors
/// per connection plus `reserve` for everything else fit under `nofile`.
pub fn effective_total(configured: u32, nofile: Option<u64>, reserve: u64) -> u32 {
    match nofile {
        Some(n) => {
            let room = n.saturating_sub(reserve) / 2;
            configured.min(u32::try_from(room).unwrap_or(u32::MAX))
        }
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_cap_fits_under_the_descriptor_limit() {
        assert_eq!(effective_total(1000, Some(20_000), 1024), 1000);
        assert_eq!(effective_total(5000, Some(4096), 1024), 1536);
        assert_eq!(effective_total(5000, Some(512), 1024), 0);
        assert_eq!(effective_total(700, None, 1024), 700);
    }

    #[test]
    fn first_requests_track_only_watched_peers() {
        let f = FirstRequests::default();
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:5000".parse().unwrap();
        f.arrived(b);
        assert!(f.lock().is_empty(), "an unwatched peer is not recorded");
        f.watch(a);
        assert!(!f.seen(a));
        f.arrived(a);
        assert!(f.seen(a));
        f.forget(a);
        assert!(f.lock().is_empty());
    }
}
