//! Serving on threads of the server's own (`ServeConfig::threads`), and what a shutdown
//! leaves behind in either mode.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fastcgi_uwsgi::{Listener, ServeConfig, Server};
use support::{BodyMode, FcgiGateway, environ, uwsgi_request};
use tower::service_fn;

/// Answers with the name of the thread the service ran on.
async fn thread_name(
    _request: http::Request<fastcgi_uwsgi::Body>,
) -> Result<http::Response<String>, std::convert::Infallible> {
    let name = std::thread::current().name().unwrap_or("").to_owned();
    Ok(http::Response::new(name))
}

#[tokio::test]
async fn connections_are_served_on_the_servers_own_threads_until_shutdown() {
    serve_on_two_threads(false).await;
}

#[tokio::test]
async fn with_reuse_port_each_thread_accepts_from_its_own_socket_until_shutdown() {
    serve_on_two_threads(true).await;
}

/// Serves 40 connections of each protocol on two threads, then shuts down; with
/// `reuse_port` the listener is bound with SO_REUSEPORT, and both threads must have had
/// connections (the kernel spreads them over the threads' sockets).
async fn serve_on_two_threads(reuse_port: bool) {
    for server in [Server::fastcgi(), Server::uwsgi()] {
        let protocol = server.protocol();
        let server = server.with_config(ServeConfig::default().with_threads(2));
        let listener = if reuse_port {
            Listener::bind_reuse_port("127.0.0.1:0").await.unwrap()
        } else {
            Listener::bind("127.0.0.1:0").await.unwrap()
        };
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            server
                .serve_with_shutdown(listener, service_fn(thread_name), async {
                    let _ = stopped.await;
                })
                .await;
        });
        let mut clients = Vec::new();
        for index in 0..40 {
            clients.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let path = format!("/{index}");
                let env = environ("GET", &path, None);
                if protocol == fastcgi_uwsgi::Protocol::FastCgi {
                    let answer = FcgiGateway::new(stream)
                        .request(&env, Bytes::new(), false, BodyMode::Concurrent)
                        .await;
                    answer.head_and_body().1
                } else {
                    uwsgi_request(stream, &env, Bytes::new(), false)
                        .await
                        .unwrap()
                        .body
                }
            }));
        }
        let mut threads = std::collections::HashSet::new();
        for client in clients {
            let thread = String::from_utf8(client.await.unwrap()).unwrap();
            assert!(
                thread.starts_with("fastcgi-uwsgi-"),
                "{protocol:?}: {thread:?}"
            );
            threads.insert(thread);
        }
        if reuse_port {
            assert_eq!(threads.len(), 2, "{protocol:?}: {threads:?}");
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve returned")
            .unwrap();
        // Every thread's socket is closed: no connection is taken (each would land on
        // one of them, by its source port).
        for _ in 0..16 {
            assert!(
                tokio::net::TcpStream::connect(addr).await.is_err(),
                "{protocol:?}: the listener is closed"
            );
        }
    }
}

/// Counts the request futures alive.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn no_request_outlives_the_server() {
    for threads in [0, 2] {
        for server in [Server::fastcgi(), Server::uwsgi()] {
            let protocol = server.protocol();
            let alive = Arc::new(AtomicUsize::new(0));
            let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
            let service = service_fn({
                let alive = alive.clone();
                move |_request: http::Request<fastcgi_uwsgi::Body>| {
                    alive.fetch_add(1, Ordering::SeqCst);
                    let guard = Alive(alive.clone());
                    let started = started_tx.clone();
                    async move {
                        let _guard = guard;
                        let _ = started.send(());
                        std::future::pending::<()>().await;
                        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
                    }
                }
            });
            let config = ServeConfig::default()
                .with_threads(threads)
                .with_shutdown_timeout(Duration::from_millis(100));
            let server = server.with_config(config);
            let listener = Listener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(async move {
                server
                    .serve_with_shutdown(listener, service, async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            let mut streams = Vec::new();
            for index in 0..4 {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let env = environ("GET", &format!("/{index}"), None);
                if protocol == fastcgi_uwsgi::Protocol::FastCgi {
                    let mut gateway = FcgiGateway::new(stream);
                    gateway.begin(&env, true);
                    gateway.flush().await;
                    streams.push(tokio::spawn(
                        async move { while gateway.read_once().await {} },
                    ));
                } else {
                    streams.push(tokio::spawn(async move {
                        let _ = uwsgi_request(stream, &env, Bytes::new(), false).await;
                    }));
                }
                started.recv().await.unwrap();
            }
            assert_eq!(alive.load(Ordering::SeqCst), 4);
            stop.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(10), serving)
                .await
                .expect("serve returned")
                .unwrap();
            assert_eq!(
                alive.load(Ordering::SeqCst),
                0,
                "{protocol:?} on {threads} threads: requests still running after serve returned"
            );
            for stream in streams {
                stream.abort();
            }
        }
    }
}
