//! The HTTP server loop: accept, count, serve HTTP/1.1 with time limits.
//!
//! `axum::serve` sets no timer, so hyper applies no header-read timeout and a
//! client sending one header byte every few seconds (slowloris) holds a
//! connection, a task and a descriptor forever; a few thousand of them starve
//! the process. Here:
//!
//! * hyper's HTTP/1 `header_read_timeout` (`http.header_read_timeout_s`) runs
//!   from the moment a request head is awaited, on a new connection and
//!   between keep-alive requests alike, so it is also the idle limit;
//! * [`ConnTable`] caps open connections in total (`http.max_connections`)
//!   and per client address (`http.max_connections_per_ip`); a connection
//!   over a cap is closed on accept, before any byte is read;
//! * [`request_timeout`] bounds reading a body and computing the answer
//!   (`http.request_timeout_s`), so a body trickled in after a quick head
//!   does not hold a handler either.
//!
//! Each request carries its peer as `ConnectInfo<SocketAddr>` (what
//! [`super::client_addr`] reads).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::error::ApiError;
use crate::config::HttpConfig;

/// The server's time and connection limits (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

impl ServerLimits {
    pub fn from_config(c: &HttpConfig) -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(c.header_read_timeout_s.max(1)),
            max_connections: c.max_connections.max(1),
            max_connections_per_ip: c.max_connections_per_ip.max(1),
        }
    }
}

/// Why a connection was closed on accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` are open.
    Full,
    /// `max_connections_per_ip` are open from this address.
    PerAddress,
}

/// Open connections, in total and per address. Its memory is bounded by the
/// caps: an address is in the map only while it has a connection open.
#[derive(Debug)]
pub struct ConnTable {
    limits: ServerLimits,
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ConnTable {
    pub fn new(limits: ServerLimits) -> ConnTable {
        ConnTable {
            limits,
            total: 0,
            per_ip: HashMap::new(),
        }
    }

    /// Counts a new connection from `ip`, unless a cap is reached.
    pub fn admit(&mut self, ip: IpAddr) -> Result<(), Refused> {
        if self.total >= self.limits.max_connections {
            return Err(Refused::Full);
        }
        let n = self.per_ip.entry(ip).or_insert(0);
        if *n >= self.limits.max_connections_per_ip {
            return Err(Refused::PerAddress);
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// A connection from `ip` closed.
    pub fn release(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
            self.total -= 1;
        }
    }

    /// Open connections (total, distinct addresses).
    pub fn open(&self) -> (usize, usize) {
        (self.total, self.per_ip.len())
    }
}

/// Releases its connection's place in the table when the connection ends.
struct Admitted {
    table: Arc<Mutex<ConnTable>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.table
            .lock()
            .expect("connection table")
            .release(self.ip);
    }
}

/// Serves `router` on `listener` until `stop`; then lets open requests finish
/// for up to `grace` (live-event streams and softphone sockets would never
/// finish on their own).
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    stop: CancellationToken,
    grace: Duration,
) {
    let table = Arc::new(Mutex::new(ConnTable::new(limits)));
    let mut refused_logged = tokio::time::Instant::now() - Duration::from_secs(60);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE/ENFILE: descriptors are exhausted; let some close.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ip = peer.ip().to_canonical();
        if let Err(why) = table.lock().expect("connection table").admit(ip) {
            // One line a minute at most: the flood must not flood the log too.
            if refused_logged.elapsed() > Duration::from_secs(60) {
                refused_logged = tokio::time::Instant::now();
                tracing::warn!(?why, %ip, "HTTP connection refused: too many open");
            }
            drop(stream);
            continue;
        }
        let admitted = Admitted {
            table: table.clone(),
            ip,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let stop = stop.clone();
        tokio::spawn(serve_connection(
            stream, peer, service, limits, stop, admitted,
        ));
    }
    // Connections leave the table as they end (graceful shutdown has begun).
    let deadline = tokio::time::Instant::now() + grace;
    while table.lock().expect("connection table").open().0 > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::info!("HTTP connections still open after the grace period; leaving them");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve_connection<S>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    service: S,
    limits: ServerLimits,
    stop: CancellationToken,
    admitted: Admitted,
) where
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let _admitted = admitted;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = http
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}

/// Middleware: 408 when reading the request and computing the answer take
/// longer than `limit` (a streamed answer's body is not counted: it has
/// already started).
pub async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(total: usize, per_ip: usize) -> ConnTable {
        ConnTable::new(ServerLimits {
            header_read_timeout: Duration::from_secs(1),
            max_connections: total,
            max_connections_per_ip: per_ip,
        })
    }

    #[test]
    fn caps_in_total_and_per_address_and_forgets_closed_ones() {
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let mut t = table(3, 2);
        assert_eq!(t.admit(a), Ok(()));
        assert_eq!(t.admit(a), Ok(()));
        assert_eq!(t.admit(a), Err(Refused::PerAddress));
        assert_eq!(t.admit(b), Ok(()));
        assert_eq!(t.admit(b), Err(Refused::Full));
        t.release(a);
        assert_eq!(t.admit(b), Ok(()), "a place freed");
        t.release(a);
        t.release(b);
        t.release(b);
        assert_eq!(t.open(), (0, 0), "no address kept once closed");
        t.release(a);
        assert_eq!(t.open(), (0, 0), "a stray release changes nothing");
    }
}
