//! The HTTP endpoints do not let idle, slow or too many clients hold them:
//! a connection that sends no (complete) request within the header timeout
//! is closed, and beyond the connection limit clients wait.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leadscore::model::Model;
use leadscore::telemetry::health::Health;
use leadscore::telemetry::http::{router, serve, HttpLimits};

/// Serves the real router on a free port with a 1 s header timeout.
fn start(max_connections: usize) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let r = router(
        Health::new(),
        leadscore::telemetry::prometheus::install(),
        Arc::new(Model::builtin()),
    );
    let limits = HttpLimits {
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        max_connections,
    };
    let (addr, _task) = rt
        .block_on(serve(
            "127.0.0.1:0".parse().unwrap(),
            r,
            limits,
            std::future::pending(),
        ))
        .expect("serve");
    (addr, rt)
}

/// Waits (at most 10 s) for the server to close `s`; returns how long it took.
fn closed_after(s: &mut TcpStream) -> Duration {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return t.elapsed(),
            Ok(_) => continue, // a response (e.g. 408) before the close
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t.elapsed(),
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

#[test]
fn idle_and_slow_connections_are_closed_after_the_header_timeout() {
    let (addr, _rt) = start(16);
    let mut idle = TcpStream::connect(addr).unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(closed_after(&mut idle) < Duration::from_secs(5));
    assert!(closed_after(&mut slow) < Duration::from_secs(5));

    // A complete request is answered; the kept-alive connection is then
    // closed once it sends nothing more.
    let mut ok = TcpStream::connect(addr).unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    ok.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let n = ok.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_after(&mut ok) < Duration::from_secs(5));
}

#[test]
fn clients_beyond_the_connection_limit_wait_for_a_free_one() {
    let (addr, _rt) = start(2);
    let _a = TcpStream::connect(addr).unwrap();
    let _b = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Both permits are held by idle connections: the third request is
    // served only once the header timeout has closed one of them.
    let t = Instant::now();
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "served before a connection was free ({:?})",
        t.elapsed()
    );
}
