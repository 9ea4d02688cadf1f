//! What the budgets count against what the process really holds: the resident memory
//! the request bodies read ahead of their services take, measured from the kernel. Alone
//! in its binary, so that no other test's memory moves the measure.

mod support;

use std::time::Duration;

use fastcgi_uwsgi::{ServeConfig, Server};
use support::{FcgiGateway, environ, pattern};
use tower::service_fn;

/// This process's resident memory, in bytes (Linux: /proc/self/status).
fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kib: usize = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib << 10
}

#[tokio::test(start_paused = true)]
async fn the_budget_counts_the_memory_request_bodies_hold() {
    const BUDGET: usize = 64 << 20;
    const CONNECTIONS: usize = 48;
    const DUPLEX: usize = 64 << 10;
    let config = ServeConfig::default()
        .with_process_buffer(BUDGET)
        .with_connection_buffer(2 << 20);
    let server = Server::fastcgi().with_config(config);
    // Services that never read their bodies: everything read ahead stays buffered.
    let service = service_fn(|request: http::Request<fastcgi_uwsgi::Body>| async move {
        std::future::pending::<()>().await;
        drop(request);
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    });
    // 3 MiB per connection, sent in FastCGI records of 65528 bytes, which do not line up
    // with the reads: 144 MiB offered against the budget.
    let body = pattern(3 << 20);
    let mut gateways = Vec::new();
    for _ in 0..CONNECTIONS {
        let (near, far) = tokio::io::duplex(DUPLEX);
        let server = server.clone();
        tokio::spawn(async move { server.serve_connection(far, None, service).await });
        let mut gateway = FcgiGateway::new(near);
        let id = gateway.begin(&environ("POST", "/upload", Some(body.len())), true);
        gateway.body(id, &body, false);
        gateways.push(gateway);
    }
    let before = resident();
    let pushes: Vec<_> = gateways
        .into_iter()
        .map(|mut gateway| {
            tokio::spawn(async move {
                gateway.flush().await;
                gateway
            })
        })
        .collect();
    // Until the server stops taking bytes in (the clock is paused: a sleep passes only
    // when nothing else can run).
    let (mut last, mut still) = (0, 0);
    for _ in 0..100_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = server.buffered_bytes();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 50 {
            break;
        }
    }
    assert_eq!(still, 50, "the buffered bytes never settled");
    let grown = resident().saturating_sub(before);
    let counted = server.buffered_bytes();
    assert!(
        counted > BUDGET / 2,
        "the test did not fill the budget ({counted})"
    );
    assert!(
        counted <= BUDGET,
        "{counted} bytes counted, budget {BUDGET}"
    );
    // What is not the server's: the in-process pipes, and a little for the runtime.
    let other = CONNECTIONS * DUPLEX + (4 << 20);
    assert!(
        grown <= counted + counted / 8 + other,
        "resident memory grew by {grown} bytes, the budget counted {counted}"
    );
    for push in pushes {
        push.abort();
    }
}
