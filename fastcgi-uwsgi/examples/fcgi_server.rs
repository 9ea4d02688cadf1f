//! A FastCGI application server: an axum app that answers every request with its environ
//! as JSON and the length of its body, served with `fastcgi_uwsgi`. Put nginx in front:
//! `location / { include fastcgi_params; fastcgi_pass 127.0.0.1:9000; }`.
//!
//! ```sh
//! cargo run -p fastcgi-uwsgi --example fcgi_server -- 127.0.0.1:9000
//! cargo run -p fastcgi-uwsgi --example fcgi_server -- unix:/run/app.sock
//! spawn-fcgi -p 9000 -- target/debug/examples/fcgi_server
//! ```
//!
//! With no address it serves the listening socket it inherited as standard input, as
//! spawn-fcgi and lighttpd's `bin-path` start it; without one either, it prints its usage
//! and exits with 2.

mod common;
mod log;

use std::process::ExitCode;

use fastcgi_uwsgi::Server;

// The server serves on threads of its own (one per CPU): this runtime only waits for
// the shutdown signal.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Backend STDERR, failures and warnings are logged through tracing.
    log::init("fcgi_server");
    let (listener, config) = match common::command_line("fcgi_server", "127.0.0.1:9000").await {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let app = axum::Router::new().fallback(common::environ_json::<axum::body::Body>);
    Server::fastcgi()
        .with_config(config)
        .serve_with_shutdown(listener, app, common::shutdown_signal())
        .await;
    ExitCode::SUCCESS
}
