//! The HTTP server under a slowloris attack (issue 9, item 9), on a real
//! socket: thousands of connections that send a request head one byte at a
//! time are closed by the header-read timeout, a client over the per-address
//! cap is closed at once, and a real login still gets through meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carecall::auth::Role;
use carecall::config::Config;
use carecall::http::users::{NewUserBody, add_user};
use carecall::http::{AppState, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

/// Slow connections, spread over these source addresses.
const SLOW: usize = 2_000;
const SOURCES: [&str; 5] = [
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.4",
    "127.0.0.5",
    "127.0.0.6",
];
const HEADER_TIMEOUT_S: u64 = 10;

/// Each slow connection and its server side take a descriptor in this process.
fn ensure_descriptors(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if soft < needed {
        let status = std::process::Command::new("prlimit")
            .args([
                "--pid",
                &std::process::id().to_string(),
                &format!("--nofile={needed}:{needed}"),
            ])
            .status()
            .expect("prlimit");
        assert!(status.success(), "raise RLIMIT_NOFILE to {needed}");
    }
}

async fn connect_from(source: &str, server: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(server).await
}

/// Sends a request head one byte every `every`; returns how long the server
/// kept the connection open (its close seen as EOF, a reset or a failed write).
async fn drip(mut conn: TcpStream, every: Duration, give_up: Duration) -> Option<Duration> {
    let start = Instant::now();
    let head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buf = [0u8; 256];
    for b in head.iter().cycle() {
        if start.elapsed() > give_up {
            return None;
        }
        if conn.write_all(&[*b]).await.is_err() {
            return Some(start.elapsed());
        }
        match tokio::time::timeout(every, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            // hyper may answer 408 before closing; keep reading to the close.
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
    }
    None
}

/// One whole HTTP/1.1 request; the status line's code.
async fn request(server: std::net::SocketAddr, raw: &str) -> u16 {
    let mut conn = TcpStream::connect(server).await.unwrap();
    conn.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_connections_are_closed_and_logins_still_work() {
    ensure_descriptors(3 * SLOW as u64 + 512);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
    let store = carecall::store::Store::connect(&url).await.unwrap();
    add_user(
        &store,
        &NewUserBody {
            username: "admin".into(),
            display_name: String::new(),
            password: "mật-khẩu-1022".into(),
            role: Role::Admin,
            unit: None,
        },
    )
    .await
    .unwrap();
    let mut config = Config::default();
    config.http.header_read_timeout_s = HEADER_TIMEOUT_S;
    config.http.max_connections = SLOW + 100;
    config.http.max_connections_per_ip = SLOW / SOURCES.len();
    let state = AppState::new(store.clone(), Arc::new(config), "test".into());
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move { serve(state, "127.0.0.1:0", stop, tx).await }
    });
    let addr = rx.await.unwrap();

    // The attack: SLOW connections, each dripping a header byte every 2 s.
    let opened = Instant::now();
    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let conn = connect_from(SOURCES[i % SOURCES.len()], addr)
            .await
            .unwrap();
        slow.push(tokio::spawn(drip(
            conn,
            Duration::from_secs(2),
            Duration::from_secs(60),
        )));
    }
    let connect_time = opened.elapsed();

    // Over the per-address cap: closed at once.
    let extra = connect_from(SOURCES[0], addr).await.unwrap();
    let closed_in = drip(extra, Duration::from_millis(200), Duration::from_secs(10))
        .await
        .expect("the connection over the cap is closed");
    assert!(closed_in < Duration::from_secs(3), "{closed_in:?}");

    // Meanwhile a real login from another address answers promptly.
    let body = r#"{"username":"admin","password":"mật-khẩu-1022"}"#;
    let raw = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let t = Instant::now();
    assert_eq!(request(addr, &raw).await, 200);
    let login_time = t.elapsed();
    assert!(
        login_time < Duration::from_secs(5),
        "login took {login_time:?}"
    );
    let still_open = slow.iter().filter(|h| !h.is_finished()).count();
    assert!(
        still_open > SLOW * 9 / 10,
        "the login ran while the attack held its connections ({still_open} open)"
    );

    // Every slow connection is closed by the header timeout, not before.
    let mut held = Vec::with_capacity(SLOW);
    for h in slow {
        held.push(h.await.unwrap().expect("closed by the server within 60 s"));
    }
    let shortest = held.iter().min().unwrap();
    let longest = held.iter().max().unwrap();
    eprintln!(
        "{SLOW} slow connections opened in {connect_time:?}; login {login_time:?}; \
         held {shortest:?}..{longest:?}"
    );
    assert!(
        *shortest >= Duration::from_secs(HEADER_TIMEOUT_S - 1),
        "closed by the timeout, not early: {shortest:?}"
    );
    assert!(
        *longest < Duration::from_secs(HEADER_TIMEOUT_S + 20),
        "{longest:?}"
    );
    // And the server is healthy afterwards.
    let health = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, health).await, 200);
    stop.cancel();
    server.await.unwrap().unwrap();
}

/// A body trickled in after a quick head is cut off by the request timeout
/// (408, problem+json), so it holds no handler; the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
    let store = carecall::store::Store::connect(&url).await.unwrap();
    let mut config = Config::default();
    config.http.request_timeout_s = 2;
    let state = AppState::new(store, Arc::new(config), "test".into());
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move { serve(state, "127.0.0.1:0", stop, tx).await }
    });
    let addr = rx.await.unwrap();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 64\r\n\r\n{\"user",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "answered within 30 s");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    let health = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, health).await, 200);
    stop.cancel();
    server.await.unwrap().unwrap();
}
