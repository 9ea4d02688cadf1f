//! A uwsgi application server: a hyper `service_fn` that answers every request with its environ as JSON and the
//! length of its body, served with `fastcgi_uwsgi`. Put nginx in front:
//! `location / { include uwsgi_params; uwsgi_pass 127.0.0.1:3031; }`.
//!
//! ```sh
//! cargo run -p fastcgi-uwsgi --example uwsgi_server -- 127.0.0.1:3031
//! ```
//!
//! With no address it serves the listening socket it inherited as standard input; without
//! one either, it prints its usage and exits with 2.

mod common;
mod log;

use std::process::ExitCode;

use fastcgi_uwsgi::Server;

// The server serves on threads of its own (one per CPU): this runtime only waits for
// the shutdown signal.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Backend STDERR, failures and warnings are logged through tracing.
    log::init("uwsgi_server");
    let (listener, config) = match common::command_line("uwsgi_server", "127.0.0.1:3031").await {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let app = fastcgi_uwsgi::HyperService(hyper::service::service_fn(
        common::environ_json::<fastcgi_uwsgi::Body>,
    ));
    Server::uwsgi()
        .with_config(config)
        .serve_with_shutdown(listener, app, common::shutdown_signal())
        .await;
    ExitCode::SUCCESS
}
