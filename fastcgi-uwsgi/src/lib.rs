//! Serve any [`tower`](https://docs.rs/tower) `Service` over FastCGI or uwsgi, behind
//! nginx, HAProxy or Apache, on tokio.
//!
//! An axum `Router` works unchanged (and a hyper `service_fn`, wrapped in
//! `HyperService`, with the feature `hyper`):
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello\n" }));
//! fastcgi_uwsgi::serve_fastcgi(fastcgi_uwsgi::Listener::bind("127.0.0.1:9000").await?, app).await;
//! # Ok(()) }
//! ```
//!
//! and nginx in front: `location / { include fastcgi_params; fastcgi_pass 127.0.0.1:9000; }`
//! (or `uwsgi_pass` with [`serve_uwsgi`]).
//!
//! # What a service sees
//!
//! The request's method, URI, version and headers come from the environ the front server
//! sent ([`cgi_env::CgiRequest`]); its body is a streaming [`Body`] of the `Bytes` chunks
//! the codec split off the socket's buffer, not a copy; the CGI facts (client address,
//! SCRIPT_NAME, PATH_INFO, the whole environ) are a [`CgiFacts`] in its extensions. The
//! response's status and headers are written as a CGI head (FastCGI) or an HTTP/1.x head
//! (uwsgi), its body streamed with back-pressure. Trailers are dropped: neither protocol
//! carries them. A service error or panic becomes a 500 for that request only.
//!
//! Which path the service routes on (REQUEST_URI, or PATH_INFO under a SCRIPT_NAME mount
//! point) is [`ServeConfig::with_route_path`]; [`RoutePath`] has the front servers'
//! configurations for an application under a prefix.
//!
//! # Threads
//!
//! By default a server serves on the runtime it is awaited on.
//! [`ServeConfig::with_thread_per_core`] serves on threads of its own instead, one
//! single-threaded runtime per CPU, each accepting and serving its connections start to
//! end: behind a front server that spends less CPU per request (no work stealing, no
//! wake-ups across threads). The examples serve that way. The threads share the one
//! listening socket, so each new connection wakes all of them; bound with
//! [`Listener::bind_reuse_port`] each thread has a socket of its own and a connection
//! wakes one (SO_REUSEPORT: the kernel spreads connections over the sockets by their
//! source address and port).
//!
//! # Logging
//!
//! Everything this crate reports goes through [`tracing`](https://docs.rs/tracing): a
//! connection closed on a protocol error, requests refused, the shutdown timeout passing,
//! and on the client side backend STDERR (a WARN event per line) and failed calls. Without
//! a subscriber none of it is seen: install one (`tracing_subscriber::fmt::init()`).
//!
//! # Streaming an answer while the request body arrives
//!
//! nginx does not read a FastCGI or uwsgi answer while it is still sending the request
//! body: a service that streams a large answer before it has read a large body (an echo)
//! fills both directions of the connection and stalls until a timeout (a 10 MB streaming
//! echo behind nginx 1.22 stalled in 7 of 8 tries through `fastcgi_pass` and 8 of 8
//! through `uwsgi_pass`). Read the body first (as `http_body_util::BodyExt::collect`
//! does), or answer only after it. The interop test
//! `front_servers::nginx_ten_mebibyte_echo` is such a body-first echo through nginx.
//!
//! # Shape
//!
//! Beside the sans-IO codecs, as quinn is beside quinn-proto: a connection driver owns the
//! socket and one sans-IO connection ([`fastcgi_codec`]'s application side, or
//! [`uwsgi_codec`]'s request decoder and response writer) and only moves bytes; each
//! request's future runs inside its connection's task, so nothing a connection started
//! outlives it. Every timeout, limit and budget is in [`ServeConfig`], with defaults
//! meant for the internet behind a front server.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod body;
mod budget;
pub mod client;
mod config;
mod driver;
#[cfg(feature = "hyper")]
mod hyper_service;
mod id_map;
mod limit;
mod listener;
mod output;
mod request;
mod respond;
mod route;
mod server;

/// The CGI/1.1 and WSGI environ crate this one is built on, re-exported so that one
/// dependency suffices: [`cgi_env::Gateway`] and [`cgi_env::Preset`] for a
/// [`client::ClientConfig`], [`cgi_env::ConnectionInfo`] for a client call, the
/// [`cgi_env::Environ`] in a served request's [`CgiFacts`].
pub use cgi_env;

pub use body::{Body, BodyError};
pub use config::ServeConfig;
#[cfg(feature = "hyper")]
pub use hyper_service::HyperService;
pub use listener::Listener;
pub use request::CgiFacts;
pub use respond::{BoxError, CgiService, ResponseBody, Transport};
pub use route::RoutePath;
pub use server::{
    Protocol, Server, serve_fastcgi, serve_fastcgi_with_shutdown, serve_uwsgi,
    serve_uwsgi_with_shutdown,
};
