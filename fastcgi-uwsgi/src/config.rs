//! How a server treats its connections: timeouts, limits and budgets, each with a default
//! that is safe behind nginx, HAProxy or Apache on the internet.

use std::time::Duration;

/// The configuration of [`serve_fastcgi`](crate::serve_fastcgi) and
/// [`serve_uwsgi`](crate::serve_uwsgi) (and their [`Server`](crate::Server) forms).
///
/// ```
/// use std::time::Duration;
/// use fastcgi_uwsgi::ServeConfig;
///
/// let config = ServeConfig::default()
///     .with_idle_timeout(Duration::from_secs(300))
///     .with_max_connections(4096);
/// assert_eq!(config.idle_timeout(), Duration::from_secs(300));
/// assert_eq!(config.params_timeout(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    params_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    write_timeout: Duration,
    shutdown_timeout: Duration,
    max_connections: usize,
    max_requests: usize,
    connection_buffer: usize,
    process_buffer: usize,
    multiplex: bool,
    threads: usize,
    route_path: crate::RoutePath,
    fastcgi_limits: fastcgi_codec::Limits,
    uwsgi_limits: uwsgi_codec::Limits,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            params_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_requests: 1024,
            connection_buffer: 32 << 20,
            process_buffer: 512 << 20,
            multiplex: true,
            threads: 0,
            route_path: crate::RoutePath::RequestUri,
            fastcgi_limits: fastcgi_codec::Limits::default(),
            // Front servers send every header as a var: uWSGI's 4 KiB default refuses
            // large cookies, so take what the 16-bit datasize can say.
            uwsgi_limits: uwsgi_codec::Limits::default().with_max_vars_block(u16::MAX),
        }
    }
}

impl ServeConfig {
    /// How long a new request may take to send its whole environ (FastCGI PARAMS, the
    /// uwsgi vars block), counted from its first byte. Default 30 s: front servers send
    /// it in one write, so only a stalled or hostile peer takes longer.
    pub fn params_timeout(&self) -> Duration {
        self.params_timeout
    }

    /// How long a connection may sit with no request in flight before it is closed: a
    /// FastCGI keep-conn connection between requests, or any connection before its first
    /// byte. Default 120 s, longer than the 60 s nginx keeps idle upstream connections
    /// by default, so that nginx closes first and never sends a request on a connection
    /// this side is closing.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How long a request body may stall (no byte of it arriving) while the request
    /// still expects it. Default 60 s, nginx's `fastcgi_send_timeout`.
    pub fn body_timeout(&self) -> Duration {
        self.body_timeout
    }

    /// How long a write may make no progress before the connection is dropped. Default
    /// 60 s, nginx's `fastcgi_read_timeout`.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// How long a graceful shutdown waits for requests in flight before it drops them.
    /// Default 30 s.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// The most connections served at once; past it, the listener is not accepted from
    /// until one closes (the kernel's backlog holds the rest). Default 1024.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The most requests in flight in the whole process, over all connections. A FastCGI
    /// request past it waits for its turn before its service is called. Default 1024.
    /// The limit per FastCGI connection is
    /// [`fastcgi_codec::Limits`]'s, which GET_VALUES answers with.
    pub fn max_requests(&self) -> usize {
        self.max_requests
    }

    /// The most bytes one connection holds in memory: request bodies read ahead of their
    /// services and the params of requests not started yet (counted as the receive
    /// buffer allocations they keep alive, and the params bytes themselves), and response
    /// bytes the peer has not taken yet. Default 32 MiB. Past it the connection stops
    /// reading until its services or its peer catch up.
    ///
    /// This is also what a gateway that writes a whole request body before it reads any
    /// of the answer (Apache's `mod_proxy_fcgi` does) can be answered with while it is
    /// still writing: an echo of a body larger than this behind such a gateway stalls,
    /// and the write timeout then closes the connection.
    pub fn connection_buffer(&self) -> usize {
        self.connection_buffer
    }

    /// The most bytes all connections together hold in memory, as
    /// [`ServeConfig::connection_buffer`] counts them. Default 512 MiB. Request bodies
    /// read ahead of their services take at most seven eighths of it: the rest is kept
    /// for reading new requests' heads and for responses, so that new requests are served
    /// while bodies hold the budget.
    pub fn process_buffer(&self) -> usize {
        self.process_buffer
    }

    /// Whether a FastCGI connection serves several requests at once when the front
    /// server multiplexes (HAProxy's `option mpxs-conns`); GET_VALUES answers
    /// `FCGI_MPXS_CONNS` accordingly. Default on.
    pub fn multiplex(&self) -> bool {
        self.multiplex
    }

    /// The threads the server serves on, each its own single-threaded tokio runtime with
    /// its own accept loop on the one listening socket; a connection stays on the thread
    /// that accepted it, with its requests, so serving one never wakes another thread.
    /// 0 (the default) serves on the runtime the server is awaited on.
    ///
    /// Behind a front server this spends less CPU per request than a multi-thread
    /// runtime (no work stealing, no cross-thread wake-ups; see the benches' end-to-end
    /// results); [`ServeConfig::with_thread_per_core`] sets one thread per CPU. Where the
    /// front server shares the CPUs, fewer threads can spend less: on two CPUs shared
    /// with nginx and the load, one thread spent a fifth to a third less CPU per request
    /// than two, and served more requests. A service's own `tokio::spawn`s run on the
    /// thread of the request that made them.
    /// [`Server::serve_connection`](crate::Server::serve_connection) always serves on the
    /// caller's runtime.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets [`ServeConfig::threads`].
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Sets [`ServeConfig::threads`] to the CPUs this process may use.
    #[must_use]
    pub fn with_thread_per_core(self) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        self.with_threads(cpus)
    }

    /// Which part of the environ becomes the request's URI path, the one a service routes
    /// on: REQUEST_URI (the default), SCRIPT_NAME and PATH_INFO, or PATH_INFO under
    /// SCRIPT_NAME as the mount point. See [`RoutePath`](crate::RoutePath), with
    /// the front servers' configurations for an application under a prefix.
    pub fn route_path(&self) -> crate::RoutePath {
        self.route_path
    }

    /// Sets [`ServeConfig::route_path`].
    ///
    /// ```
    /// use fastcgi_uwsgi::{RoutePath, ServeConfig};
    ///
    /// // Mounted under a prefix the front server sends as SCRIPT_NAME.
    /// let config = ServeConfig::default().with_route_path(RoutePath::PathInfo);
    /// assert_eq!(config.route_path(), RoutePath::PathInfo);
    /// ```
    #[must_use]
    pub fn with_route_path(mut self, route: crate::RoutePath) -> Self {
        self.route_path = route;
        self
    }

    /// What a FastCGI connection accepts of its peer: params size, requests in flight per
    /// connection (answered to GET_VALUES as FCGI_MAX_REQS), request-level errors before
    /// the connection is dropped. Default [`fastcgi_codec::Limits::default`].
    pub fn fastcgi_limits(&self) -> fastcgi_codec::Limits {
        self.fastcgi_limits
    }

    /// What a uwsgi connection accepts of its peer. Default
    /// [`uwsgi_codec::Limits::default`] with a vars block of up to 65535 bytes (uWSGI's
    /// own default of 4096 refuses requests with large cookies).
    pub fn uwsgi_limits(&self) -> uwsgi_codec::Limits {
        self.uwsgi_limits
    }

    /// Sets [`ServeConfig::fastcgi_limits`].
    #[must_use]
    pub fn with_fastcgi_limits(mut self, limits: fastcgi_codec::Limits) -> Self {
        self.fastcgi_limits = limits;
        self
    }

    /// Sets [`ServeConfig::uwsgi_limits`].
    #[must_use]
    pub fn with_uwsgi_limits(mut self, limits: uwsgi_codec::Limits) -> Self {
        self.uwsgi_limits = limits;
        self
    }

    /// Sets [`ServeConfig::params_timeout`].
    #[must_use]
    pub fn with_params_timeout(mut self, timeout: Duration) -> Self {
        self.params_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::idle_timeout`].
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::body_timeout`].
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::write_timeout`].
    #[must_use]
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::shutdown_timeout`].
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::max_connections`] (at least 1).
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets [`ServeConfig::max_requests`] (at least 1).
    #[must_use]
    pub fn with_max_requests(mut self, max: usize) -> Self {
        self.max_requests = max.max(1);
        self
    }

    /// Sets [`ServeConfig::connection_buffer`] (at least 64 KiB, one FastCGI record).
    #[must_use]
    pub fn with_connection_buffer(mut self, bytes: usize) -> Self {
        self.connection_buffer = bytes.max(MIN_BUFFER);
        self
    }

    /// Sets [`ServeConfig::process_buffer`] (at least 64 KiB).
    #[must_use]
    pub fn with_process_buffer(mut self, bytes: usize) -> Self {
        self.process_buffer = bytes.max(MIN_BUFFER);
        self
    }

    /// Sets [`ServeConfig::multiplex`].
    #[must_use]
    pub fn with_multiplex(mut self, multiplex: bool) -> Self {
        self.multiplex = multiplex;
        self
    }
}

/// The smallest buffer budget: one read and one FastCGI record must always fit.
pub(crate) const MIN_BUFFER: usize = 64 << 10;
