//! Hello-world on `fastcgi_uwsgi` for the end-to-end benchmark (`benches/e2e/run.sh`).
//!
//! Usage: `e2e_fastcgi_uwsgi fastcgi|uwsgi ADDRESS [THREADS]`: THREADS single-threaded
//! runtimes of the server's own (`ServeConfig::threads`), one per CPU by default; 0 serves on
//! this program's multi-thread runtime (one worker per CPU). The listener is bound with
//! SO_REUSEPORT, so that each serving thread accepts from a socket of its own.

use std::convert::Infallible;

use fastcgi_uwsgi::{Listener, ServeConfig, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(protocol), Some(address)) = (args.next(), args.next()) else {
        eprintln!("usage: e2e_fastcgi_uwsgi fastcgi|uwsgi ADDRESS [THREADS]");
        std::process::exit(2);
    };
    let config = match args.next().map(|threads| threads.parse::<usize>()) {
        None => ServeConfig::default().with_thread_per_core(),
        Some(Ok(threads)) => ServeConfig::default().with_threads(threads),
        Some(Err(error)) => {
            eprintln!("THREADS: {error}");
            std::process::exit(2);
        }
    };
    let server = match protocol.as_str() {
        "fastcgi" => Server::fastcgi(),
        "uwsgi" => Server::uwsgi(),
        other => {
            eprintln!("unknown protocol {other:?}");
            std::process::exit(2);
        }
    };
    // One listening socket per serving thread (SO_REUSEPORT): a new connection wakes one
    // thread, not every thread.
    let listener = Listener::bind_reuse_port(&address).await?;
    let app = tower::service_fn(|_request: http::Request<fastcgi_uwsgi::Body>| async {
        let mut response = http::Response::new(String::from("hello\n"));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        Ok::<_, Infallible>(response)
    });
    server.with_config(config).serve(listener, app).await;
    Ok(())
}
