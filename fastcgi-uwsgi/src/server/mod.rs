//! The accept loop both protocols share: connection limit, accept errors, graceful
//! shutdown.

pub(crate) mod answers;
pub(crate) mod fastcgi;
pub(crate) mod fastcgi_requests;
pub(crate) mod per_core;
pub(crate) mod session;
pub(crate) mod uwsgi;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::budget::{Budget, Budgets};
use crate::config::ServeConfig;
use crate::driver::halves::Halves;
use crate::limit::Limit;
use crate::listener::{AcceptError, Listener, backoff};
use crate::respond::{CgiService, ResponseBody, Transport};

/// The protocol a [`Server`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// FastCGI, as nginx's `fastcgi_pass`, HAProxy's `fcgi-app` and Apache's
    /// `mod_proxy_fcgi` speak it.
    FastCgi,
    /// uwsgi, as nginx's `uwsgi_pass` and Apache's `mod_proxy_uwsgi` speak it.
    Uwsgi,
}

/// What every connection of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ServeConfig,
    pub(crate) process_buffer: Arc<Budget>,
    pub(crate) requests: Arc<Limit>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn budgets(&self) -> Budgets {
        Budgets::new(self.config.connection_buffer(), self.process_buffer.clone())
    }

    /// Whether a graceful shutdown has begun. The shutdown value changes once, from false
    /// to true, so a change is the shutdown; asking reads one shared word, where
    /// borrowing the value would write the lock every connection on every thread reads.
    pub(crate) fn shutting_down(&self) -> bool {
        matches!(self.shutdown.has_changed(), Ok(true))
    }
}

/// A FastCGI or uwsgi server with its configuration.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use fastcgi_uwsgi::{Listener, ServeConfig, Server};
///
/// let app = tower::service_fn(|_request: http::Request<fastcgi_uwsgi::Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello\n")))
/// });
/// let listener = Listener::bind("127.0.0.1:9000").await?;
/// Server::fastcgi()
///     .with_config(ServeConfig::default().with_max_connections(256))
///     .serve_with_shutdown(listener, app, async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await;
/// # Ok(()) }
/// ```
///
/// Clones share the process-wide budget and request limit: serving several listeners
/// from clones of one `Server` keeps one process total.
#[derive(Debug, Clone)]
pub struct Server {
    protocol: Protocol,
    config: ServeConfig,
    process_buffer: Arc<Budget>,
    requests: Arc<Limit>,
}

impl Server {
    /// A FastCGI server with the default configuration.
    pub fn fastcgi() -> Server {
        Server::new(Protocol::FastCgi)
    }

    /// A uwsgi server with the default configuration.
    pub fn uwsgi() -> Server {
        Server::new(Protocol::Uwsgi)
    }

    /// A server for `protocol` with the default configuration.
    pub fn new(protocol: Protocol) -> Server {
        let config = ServeConfig::default();
        Server {
            protocol,
            process_buffer: Budget::process(config.process_buffer()),
            requests: Limit::new(config.max_requests()),
            config,
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The configuration.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// Sets the configuration.
    #[must_use]
    pub fn with_config(mut self, config: ServeConfig) -> Server {
        self.process_buffer = Budget::process(config.process_buffer());
        self.requests = Limit::new(config.max_requests());
        self.config = config;
        self
    }

    /// The bytes all connections of this server (and its clones) hold now: request
    /// bodies and params read ahead of their services (as the receive buffer allocations
    /// they keep alive), and response bytes not yet written. Never more than
    /// [`ServeConfig::process_buffer`], but for one piece larger than the whole budget and
    /// the params bytes one read brings in.
    pub fn buffered_bytes(&self) -> usize {
        self.process_buffer.held()
    }

    /// Serves `service` on every connection `listener` accepts, forever. Accept errors
    /// (out of file descriptors, a connection reset before it was accepted) are logged
    /// and retried with a backoff; they never end the loop.
    pub async fn serve<S, B>(&self, listener: Listener, service: S)
    where
        S: CgiService<B>,
        B: ResponseBody,
    {
        self.serve_with_shutdown(listener, service, std::future::pending())
            .await;
    }

    /// As [`Server::serve`], until `signal` completes; then stops accepting, lets the
    /// requests in flight finish within [`ServeConfig::shutdown_timeout`], closes idle
    /// connections, and returns. The listener is closed when this returns.
    pub async fn serve_with_shutdown<S, B>(
        &self,
        listener: Listener,
        service: S,
        signal: impl Future<Output = ()>,
    ) where
        S: CgiService<B>,
        B: ResponseBody,
    {
        if self.config.threads() > 0 {
            match listener.into_std() {
                Ok(listener) => {
                    crate::server::per_core::serve(self, listener, service, signal).await;
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot hand the listener to the serving threads; not serving");
                    return;
                }
            }
        }
        let (stop, shared) = self.shared();
        let connections = Limit::new(self.config.max_connections());
        let tasks = accept_loop(
            self.protocol,
            &listener,
            service,
            &shared,
            &connections,
            signal,
        )
        .await;
        drop(listener);
        let _ = stop.send(true);
        drain(tasks, self.config.shutdown_timeout()).await;
    }

    /// Serves one connection already accepted (or any byte stream, such as a
    /// `tokio::io::duplex` in a test), until it closes. `peer` is the TCP peer, for logs.
    pub async fn serve_connection<IO, S, B>(&self, io: IO, peer: Option<SocketAddr>, service: S)
    where
        IO: Transport,
        S: CgiService<B>,
        B: ResponseBody,
    {
        let (_stop, shared) = self.shared();
        drive(
            self.protocol,
            crate::driver::halves::Locked::new(io),
            peer,
            service,
            shared,
        )
        .await;
    }

    pub(crate) fn shared(&self) -> (watch::Sender<bool>, Arc<Shared>) {
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            config: self.config.clone(),
            process_buffer: self.process_buffer.clone(),
            requests: self.requests.clone(),
            shutdown,
        });
        (stop, shared)
    }
}

/// How often the accept loop's timer fires: shorter than any timeout worth saving a
/// system call for, long enough to cost nothing (one wake-up a second per thread).
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Accepts connections and serves each in a task of its own until `signal` completes;
/// returns the connections' tasks.
pub(crate) async fn accept_loop<S, B>(
    protocol: Protocol,
    listener: &Listener,
    service: S,
    shared: &Arc<Shared>,
    connections: &Arc<Limit>,
    signal: impl Future<Output = ()>,
) -> JoinSet<()>
where
    S: CgiService<B>,
    B: ResponseBody,
{
    let mut tasks = JoinSet::new();
    let mut signal = std::pin::pin!(signal);
    let mut delay = None;
    let nodelay = listener.prepare();
    // A timer that is always the runtime's next: a connection setting its own timer (a
    // timeout of seconds) then never finds it the earliest, which would make the runtime
    // write to its wake-up descriptor to re-arm its sleep, once per connection.
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire() => permit,
            () = &mut signal => break,
            _ = tick.tick() => continue,
        };
        let accepted = loop {
            tokio::select! {
                accepted = listener.accept(nodelay) => break Some(accepted),
                () = &mut signal => break None,
                _ = tick.tick() => {}
            }
        };
        let Some(accepted) = accepted else { break };
        while tasks.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                delay = None;
                let (shared, service) = (shared.clone(), service.clone());
                // Boxed: the task then holds a pointer, not the connection's state (some
                // kilobytes), which the runtime would otherwise copy on spawning and again
                // on reading the task's end.
                tasks.spawn(Box::pin(async move {
                    drive(protocol, stream, peer, service, shared).await;
                    drop(permit);
                }));
            }
            Err(error) => match AcceptError::classify(&error) {
                AcceptError::Connection => {}
                AcceptError::Resources => {
                    let wait = backoff(delay);
                    if delay.is_none() {
                        tracing::warn!(%error, "accept failed; retrying with a backoff");
                    }
                    delay = Some(wait);
                    drop(permit);
                    tokio::time::sleep(wait).await;
                }
            },
        }
    }
    tasks
}

/// Waits for the connections' tasks to end, up to `timeout`; then drops those still
/// running.
pub(crate) async fn drain(mut tasks: JoinSet<()>, timeout: std::time::Duration) {
    let drained = tokio::time::timeout(timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown timeout passed; dropping the connections still open"
        );
        tasks.shutdown().await;
    }
}

async fn drive<IO, S, B>(
    protocol: Protocol,
    io: IO,
    peer: Option<SocketAddr>,
    service: S,
    shared: Arc<Shared>,
) where
    IO: Halves,
    S: CgiService<B>,
    B: ResponseBody,
{
    match protocol {
        Protocol::FastCgi => {
            let session = fastcgi::FastCgiSession::new(service, &shared.config);
            session::run(io, peer, session, shared).await;
        }
        Protocol::Uwsgi => {
            let session = uwsgi::UwsgiSession::new(service, &shared.config);
            session::run(io, peer, session, shared).await;
        }
    }
}

/// Serves `service` over FastCGI on every connection `listener` accepts, forever, with
/// the default [`ServeConfig`]: Go's `fcgi.Serve(listener, handler)`.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello\n" }));
/// fastcgi_uwsgi::serve_fastcgi(fastcgi_uwsgi::Listener::bind("127.0.0.1:9000").await?, app).await;
/// # Ok(()) }
/// ```
pub async fn serve_fastcgi<S, B>(listener: Listener, service: S)
where
    S: CgiService<B>,
    B: ResponseBody,
{
    Server::fastcgi().serve(listener, service).await;
}

/// Serves `service` over uwsgi on every connection `listener` accepts, forever, with the
/// default [`ServeConfig`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello\n" }));
/// fastcgi_uwsgi::serve_uwsgi(fastcgi_uwsgi::Listener::bind("127.0.0.1:3031").await?, app).await;
/// # Ok(()) }
/// ```
pub async fn serve_uwsgi<S, B>(listener: Listener, service: S)
where
    S: CgiService<B>,
    B: ResponseBody,
{
    Server::uwsgi().serve(listener, service).await;
}

/// As [`serve_fastcgi`], until `signal` completes; then shuts down gracefully as
/// [`Server::serve_with_shutdown`] does (the requests in flight finish within
/// [`ServeConfig::shutdown_timeout`]).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello\n" }));
/// let listener = fastcgi_uwsgi::Listener::bind("127.0.0.1:9000").await?;
/// fastcgi_uwsgi::serve_fastcgi_with_shutdown(listener, app, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await;
/// # Ok(()) }
/// ```
pub async fn serve_fastcgi_with_shutdown<S, B>(
    listener: Listener,
    service: S,
    signal: impl Future<Output = ()>,
) where
    S: CgiService<B>,
    B: ResponseBody,
{
    Server::fastcgi()
        .serve_with_shutdown(listener, service, signal)
        .await;
}

/// As [`serve_uwsgi`], until `signal` completes; then shuts down gracefully as
/// [`Server::serve_with_shutdown`] does.
pub async fn serve_uwsgi_with_shutdown<S, B>(
    listener: Listener,
    service: S,
    signal: impl Future<Output = ()>,
) where
    S: CgiService<B>,
    B: ResponseBody,
{
    Server::uwsgi()
        .serve_with_shutdown(listener, service, signal)
        .await;
}
