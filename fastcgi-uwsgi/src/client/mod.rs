//! Call php-fpm and uWSGI with an `http::Request`: pooled, bounded, balanced clients.
//!
//! [`FastCgiClient`] and [`UwsgiClient`] are `tower::Service`s of `http::Request<B>` (any
//! `http_body::Body` of `Bytes`) answering `http::Response<`[`BackendBody`]`>`. The
//! environ comes from a [`cgi_env::Gateway`] in the [`ClientConfig`] (preset, script
//! mapping, document root, fixed extra params), with the request's own
//! [`cgi_env::ConnectionInfo`] when its extensions carry one. The response head is parsed
//! by [`cgi_env::ResponseHeadParser`] (the same rules for both protocols), its body
//! streamed with back-pressure. STDERR goes to `tracing` (a WARN event per line, escaped
//! and rate-limited) and, raw, to an optional hook; the FastCGI application status is an
//! [`AppStatus`] in the response's extensions.
//!
//! In an axum app, [`PhpService`] and [`UwsgiService`] mount a PHP application (as
//! Caddy's `php_fastcgi` does) and a uWSGI one under prefixes:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use fastcgi_uwsgi::client::{PhpService, UwsgiService};
//!
//! let app = axum::Router::new()
//!     .nest_service("/blog", PhpService::new("127.0.0.1:9000", "/srv/blog").mounted_at("/blog"))
//!     .nest_service("/api", UwsgiService::new("127.0.0.1:3031").mounted_at("/api"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```
//!
//! A reverse proxy is a few lines: a hyper server whose service calls the client and
//! answers [`ClientError::status_code`] when it fails (`examples/reverse_proxy.rs`).
//!
//! # Request bodies
//! php-fpm and uWSGI need CONTENT_LENGTH. A body of known length (an exact size hint, as
//! hyper gives for a Content-Length) is streamed as it is read, while the response is
//! read. A body of unknown length (chunked) is buffered up to
//! [`ClientConfig::max_buffered_body`] to learn its length; past it the call fails with
//! [`ClientError::BodyTooLarge`] (413), or [`ClientError::LengthRequired`] (411) with no
//! buffer, as nginx and Caddy do.
//!
//! # Timeouts and limits
//! Connect, first byte, between bytes, write and delivery (a caller that takes none of the
//! body waiting for it), each with a default (see [`ClientConfig`]); a timed-out
//! connection is never reused. Per backend: connections open at once, idle connections
//! kept and for how long, requests per multiplexed connection; the response head's size
//! and field count; the response window, the bytes of one response read ahead of its
//! caller. On a multiplexed FastCGI connection a caller past its window is cut off
//! ([`ClientError::ResponseWindowFull`]) rather than stop the connection for the others.

mod backend;
mod body;
mod call;
#[allow(clippy::module_inception)]
mod client;
mod config;
mod connections;
mod delivery;
mod error;
mod fastcgi_call;
mod fastcgi_conn;
mod mounted;
mod php_service;
mod pool;
mod prepare;
mod stderr;
mod target;
mod uwsgi_call;
mod uwsgi_service;

pub use backend::Backend;
pub use body::{AppStatus, BackendBody};
pub use client::{FastCgiClient, ResponseFuture, UwsgiClient};
pub use config::{ClientConfig, StderrHook};
pub use error::{ClientError, TimeoutKind};
pub use mounted::{GatewayBody, GatewayFuture};
pub use php_service::PhpService;
pub use pool::PoolStats;
pub use uwsgi_service::UwsgiService;
