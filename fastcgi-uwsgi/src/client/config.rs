//! How a client calls its backends: timeouts, limits, the environ it builds, the stderr
//! hook.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cgi_env::{ConnectionInfo, Gateway, Preset, ResponseHeadLimits};

/// Called with each piece of error output (FastCGI STDERR) a backend sends, with the
/// backend's address.
pub type StderrHook = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// How a [`FastCgiClient`](super::FastCgiClient) or [`UwsgiClient`](super::UwsgiClient)
/// calls its backends.
///
/// The defaults are nginx's where nginx has one (60 s to read, 60 s to write, a 1 MiB
/// buffered body) and short where waiting longer only hides a dead backend (5 s to
/// connect).
///
/// ```
/// use std::time::Duration;
/// use cgi_env::{Gateway, Preset};
/// use fastcgi_uwsgi::client::ClientConfig;
///
/// let config = ClientConfig::fastcgi()
///     .with_gateway(Gateway::new(Preset::nginx_fastcgi_conf()).with_document_root("/srv/www"))
///     .with_first_byte_timeout(Duration::from_secs(30))
///     .with_max_connections(16);
/// assert_eq!(config.max_connections(), 16);
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    gateway: Gateway,
    connection_info: ConnectionInfo,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
    write_timeout: Duration,
    delivery_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    max_connections: usize,
    max_requests_in_flight: usize,
    multiplexing: bool,
    max_buffered_body: usize,
    response_window: usize,
    response_head: ResponseHeadLimits,
    down_time: Duration,
    stderr: Option<StderrHook>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("gateway", &self.gateway)
            .field("connection_info", &self.connection_info)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("between_bytes_timeout", &self.between_bytes_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_idle", &self.max_idle)
            .field("max_connections", &self.max_connections)
            .field("max_requests_in_flight", &self.max_requests_in_flight)
            .field("multiplexing", &self.multiplexing)
            .field("max_buffered_body", &self.max_buffered_body)
            .field("response_window", &self.response_window)
            .field("response_head", &self.response_head)
            .field("down_time", &self.down_time)
            .field("stderr", &self.stderr.as_ref().map(|_| "hook"))
            .finish()
    }
}

impl ClientConfig {
    /// For FastCGI: the variables of nginx's `fastcgi.conf` (SCRIPT_FILENAME included, so
    /// set a document root), every other default as documented on each getter.
    pub fn fastcgi() -> Self {
        Self::with_preset(Preset::nginx_fastcgi_conf())
    }

    /// For uwsgi: the variables of nginx's `uwsgi_params`.
    pub fn uwsgi() -> Self {
        Self::with_preset(Preset::nginx_uwsgi_params())
    }

    fn with_preset(preset: Preset) -> Self {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        ClientConfig {
            gateway: Gateway::new(preset),
            connection_info: ConnectionInfo::new(
                loopback,
                std::net::SocketAddr::from(([127, 0, 0, 1], 80)),
                "localhost",
            ),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            max_idle: 128,
            max_connections: 256,
            max_requests_in_flight: 64,
            multiplexing: true,
            max_buffered_body: 1024 * 1024,
            response_window: 256 * 1024,
            response_head: ResponseHeadLimits::default(),
            down_time: Duration::from_secs(10),
            stderr: None,
        }
    }

    /// How a request becomes an environ: preset, script mapping, document root, fixed
    /// extra params (`Preset::with(Param::fixed(..))`).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Sets [`ClientConfig::gateway`].
    #[must_use]
    pub fn with_gateway(mut self, gateway: Gateway) -> Self {
        self.gateway = gateway;
        self
    }

    /// The connection facts (REMOTE_ADDR, SERVER_NAME, HTTPS, ...) for a request that does
    /// not carry its own [`ConnectionInfo`] in its extensions. Default: a plain-HTTP
    /// request from 127.0.0.1 to `localhost` on port 80. A reverse proxy puts each
    /// request's real [`ConnectionInfo`] in the request's extensions instead.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.connection_info
    }

    /// Sets [`ClientConfig::connection_info`].
    #[must_use]
    pub fn with_connection_info(mut self, info: ConnectionInfo) -> Self {
        self.connection_info = info;
        self
    }

    /// How long to wait for a connection (TCP or Unix), and for a free one when
    /// [`ClientConfig::max_connections`] are busy. Default 5 s.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Sets [`ClientConfig::connect_timeout`].
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the response head once the request is on its way (nginx's
    /// `fastcgi_read_timeout`). Default 60 s.
    pub fn first_byte_timeout(&self) -> Duration {
        self.first_byte_timeout
    }

    /// Sets [`ClientConfig::first_byte_timeout`].
    #[must_use]
    pub fn with_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }

    /// How long the response body may go without a byte. Default 60 s.
    pub fn between_bytes_timeout(&self) -> Duration {
        self.between_bytes_timeout
    }

    /// Sets [`ClientConfig::between_bytes_timeout`].
    #[must_use]
    pub fn with_between_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.between_bytes_timeout = timeout;
        self
    }

    /// How long a write to the backend may make no progress (nginx's
    /// `fastcgi_send_timeout`). Default 60 s.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Sets [`ClientConfig::write_timeout`].
    #[must_use]
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How long response body bytes that are ready may wait for the caller to take them.
    /// A caller that holds a response without reading its body would otherwise pin the
    /// backend connection for ever; once this runs out with data waiting and none taken,
    /// the body ends with a [`TimeoutKind::Delivery`](super::TimeoutKind::Delivery)
    /// timeout and the request's connection is freed: closed when the request was alone
    /// on it, else the request is aborted (FastCGI ABORT_REQUEST) and the others go on.
    /// Default 60 s (nginx's `send_timeout` for the same stalled client).
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// Sets [`ClientConfig::delivery_timeout`].
    #[must_use]
    pub fn with_delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// How long an idle pooled FastCGI connection is kept. Default 30 s.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Sets [`ClientConfig::idle_timeout`].
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How many idle FastCGI connections a backend's pool keeps; 0 turns pooling off (one
    /// connection per request, without FCGI_KEEP_CONN). Default 128: php-fpm ties a worker
    /// to each kept connection, so the pool never keeps more than it has used at once, and
    /// a request that waits in php-fpm's listen queue behind them gets one closed for it.
    pub fn max_idle(&self) -> usize {
        self.max_idle
    }

    /// Sets [`ClientConfig::max_idle`].
    #[must_use]
    pub fn with_max_idle(mut self, max: usize) -> Self {
        self.max_idle = max;
        self
    }

    /// How many connections to one backend may be open at once; a request past them
    /// waits for one (up to the connect timeout). Default 256.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Sets [`ClientConfig::max_connections`] (at least 1).
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How many requests share one FastCGI connection once the backend said it
    /// multiplexes (FCGI_MPXS_CONNS=1). Default 64.
    pub fn max_requests_in_flight(&self) -> usize {
        self.max_requests_in_flight
    }

    /// Sets [`ClientConfig::max_requests_in_flight`] (1 to 65535).
    #[must_use]
    pub fn with_max_requests_in_flight(mut self, max: usize) -> Self {
        self.max_requests_in_flight = max.clamp(1, usize::from(u16::MAX));
        self
    }

    /// Whether the pool asks GET_VALUES and multiplexes when the backend answers
    /// FCGI_MPXS_CONNS=1. The question goes out on new connections until one is answered;
    /// the answer then holds for the backend's pool. Off: one request per connection at
    /// a time, and no GET_VALUES. Default on (php-fpm answers 0 and is not multiplexed).
    pub fn multiplexing(&self) -> bool {
        self.multiplexing
    }

    /// Sets [`ClientConfig::multiplexing`].
    #[must_use]
    pub fn with_multiplexing(mut self, on: bool) -> Self {
        self.multiplexing = on;
        self
    }

    /// The largest request body of unknown length (chunked, no Content-Length) that is
    /// buffered to learn its length, since php-fpm and uWSGI need CONTENT_LENGTH. Past it
    /// the call fails with [`ClientError::BodyTooLarge`](super::ClientError::BodyTooLarge)
    /// (413); with 0, any such body fails with
    /// [`ClientError::LengthRequired`](super::ClientError::LengthRequired) (411). Default
    /// 1 MiB, nginx's `client_max_body_size`.
    pub fn max_buffered_body(&self) -> usize {
        self.max_buffered_body
    }

    /// Sets [`ClientConfig::max_buffered_body`].
    #[must_use]
    pub fn with_max_buffered_body(mut self, max: usize) -> Self {
        self.max_buffered_body = max;
        self
    }

    /// How many bytes of one FastCGI response may wait, read off the socket, for a caller
    /// that has not taken them. A request alone on its connection that fills it stops the
    /// connection reading (back-pressure reaches the backend; nobody else waits). When
    /// the connection carries several requests, it never stops reading for one of them,
    /// since the protocol has no per-request flow control: a request that goes past its
    /// window is aborted (ABORT_REQUEST) and its body ends with
    /// [`ClientError::ResponseWindowFull`](super::ClientError::ResponseWindowFull), while
    /// the others go on. A response in many small records fills it sooner: at most one
    /// piece per 256 bytes of window waits. Default 256 KiB.
    pub fn response_window(&self) -> usize {
        self.response_window
    }

    /// Sets [`ClientConfig::response_window`] (at least 1).
    #[must_use]
    pub fn with_response_window(mut self, bytes: usize) -> Self {
        self.response_window = bytes.max(1);
        self
    }

    /// The limits on a response head (bytes, fields). Default 8 KiB, 100 fields.
    pub fn response_head(&self) -> ResponseHeadLimits {
        self.response_head
    }

    /// Sets [`ClientConfig::response_head`].
    #[must_use]
    pub fn with_response_head(mut self, limits: ResponseHeadLimits) -> Self {
        self.response_head = limits;
        self
    }

    /// How long a backend that refused a connection is left out of a balanced client
    /// before it is tried again (nginx's `fail_timeout`). Default 10 s.
    pub fn down_time(&self) -> Duration {
        self.down_time
    }

    /// Sets [`ClientConfig::down_time`].
    #[must_use]
    pub fn with_down_time(mut self, time: Duration) -> Self {
        self.down_time = time;
        self
    }

    /// Calls `hook` with each piece of error output a backend sends (FastCGI STDERR), raw
    /// as it came, with the backend's address. Either way it is also logged with
    /// `tracing`: one WARN event per line, with the backend and the request, each line
    /// cut to 1 KiB and its control characters escaped (a backend cannot forge log
    /// lines), at most 50 lines a second per connection (the count of those dropped is
    /// in the next event).
    #[must_use]
    pub fn with_stderr_hook(mut self, hook: impl Fn(&str, &[u8]) + Send + Sync + 'static) -> Self {
        self.stderr = Some(Arc::new(hook));
        self
    }

    pub(crate) fn stderr_hook(&self) -> Option<&StderrHook> {
        self.stderr.as_ref()
    }
}
