//! Where connections come from: a TCP or Unix listening socket, or the one a process
//! manager handed over as file descriptor 0.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A listening socket to serve on.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use fastcgi_uwsgi::Listener;
///
/// let tcp = Listener::bind("127.0.0.1:9000").await?;
/// let unix = Listener::bind("unix:/run/app/fcgi.sock").await?;
/// // spawn-fcgi, lighttpd and Apache mod_fcgid start the application with the listening
/// // socket as its standard input:
/// let inherited = Listener::inherited()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix-domain stream listener.
    Unix(UnixListener),
}

impl Listener {
    /// Binds `address`: `host:port` for TCP, or a Unix socket path written `unix:PATH` or
    /// as a path starting with `/` or `.`. A stale Unix socket file is not removed: remove
    /// it first, as nginx and php-fpm expect of their operators.
    ///
    /// # Errors
    /// The bind error, with the address in its message.
    pub async fn bind(address: &str) -> io::Result<Listener> {
        let with_address =
            |error: io::Error| io::Error::new(error.kind(), format!("{address}: {error}"));
        if let Some(path) = unix_path(address) {
            return UnixListener::bind(path)
                .map(Listener::Unix)
                .map_err(with_address);
        }
        TcpListener::bind(address)
            .await
            .map(Listener::Tcp)
            .map_err(with_address)
    }

    /// Binds the TCP `address` (`host:port`) with SO_REUSEPORT, so that a server serving
    /// on threads of its own ([`ServeConfig::with_thread_per_core`](crate::ServeConfig::with_thread_per_core))
    /// gives each thread a listening socket of its own on the same address: the kernel
    /// hands each new connection to one of them, and wakes only that thread (with one
    /// socket shared, every thread wakes for every connection and all but one find
    /// nothing to accept). Only connections hashed to a thread's socket wait for that
    /// thread.
    ///
    /// Any other socket of the same user that sets SO_REUSEPORT can bind the address too
    /// and take a share of its connections: a second copy of the program started by
    /// mistake binds without an error. [`Listener::bind`] fails with "address in use"
    /// instead.
    ///
    /// # Errors
    /// The bind error, with the address in its message; `InvalidInput` for a Unix socket
    /// path (the kernel does not spread Unix connections over such sockets).
    pub async fn bind_reuse_port(address: &str) -> io::Result<Listener> {
        let with_address =
            |error: io::Error| io::Error::new(error.kind(), format!("{address}: {error}"));
        if unix_path(address).is_some() {
            return Err(with_address(io::Error::new(
                io::ErrorKind::InvalidInput,
                "SO_REUSEPORT is for TCP addresses",
            )));
        }
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address resolved");
        for resolved in tokio::net::lookup_host(address)
            .await
            .map_err(with_address)?
        {
            match reuse_port_socket(resolved) {
                Ok(listener) => return TcpListener::from_std(listener).map(Listener::Tcp),
                Err(error) => last = error,
            }
        }
        Err(with_address(last))
    }

    /// The listening socket inherited as file descriptor 0, as FastCGI process managers
    /// (spawn-fcgi, lighttpd, Apache mod_fcgid) start their applications: TCP or Unix,
    /// whichever it is. The descriptor is duplicated, so standard input stays open.
    ///
    /// # Errors
    /// When file descriptor 0 is not a listening stream socket: a terminal, a pipe, a
    /// file, or a socket that is connected (or bound) but not listening.
    pub fn inherited() -> io::Result<Listener> {
        Listener::from_fd(io::stdin().as_fd().try_clone_to_owned()?)
    }

    /// The listener `fd` is, if it is a listening TCP or Unix stream socket.
    fn from_fd(fd: OwnedFd) -> io::Result<Listener> {
        let not_listening = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("file descriptor 0 is not a listening socket ({what})"),
            )
        };
        let socket = socket2::Socket::from(fd);
        match socket.r#type() {
            Ok(socket2::Type::STREAM) => {}
            Ok(_) => return Err(not_listening("not a stream socket")),
            Err(_) => return Err(not_listening("not a socket")),
        }
        if !is_listener(&socket)? {
            return Err(not_listening("a socket that does not listen"));
        }
        let domain = socket.local_addr()?.domain();
        socket.set_nonblocking(true)?;
        let fd = OwnedFd::from(socket);
        if domain == socket2::Domain::UNIX {
            UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)).map(Listener::Unix)
        } else if domain == socket2::Domain::IPV4 || domain == socket2::Domain::IPV6 {
            TcpListener::from_std(std::net::TcpListener::from(fd)).map(Listener::Tcp)
        } else {
            Err(not_listening("neither TCP nor Unix"))
        }
    }

    /// The local TCP address, for a TCP listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }

    /// Sets TCP_NODELAY on the listening socket, where the connections it accepts
    /// inherit it (Linux, the BSDs): one system call for the listener instead of one per
    /// connection. Returns whether connections must still have it set one by one.
    pub(crate) fn prepare(&self) -> NoDelay {
        match self {
            Listener::Tcp(listener)
                if INHERITS_NODELAY
                    && socket2::SockRef::from(listener)
                        .set_tcp_nodelay(true)
                        .is_ok() =>
            {
                NoDelay::Inherited
            }
            Listener::Tcp(_) => NoDelay::PerConnection,
            Listener::Unix(_) => NoDelay::Inherited,
        }
    }

    /// The next connection, and the peer's address when it is TCP.
    pub(crate) async fn accept(
        &self,
        nodelay: NoDelay,
    ) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                // Records and packets are written whole; waiting to coalesce them only
                // adds latency.
                if nodelay == NoDelay::PerConnection {
                    let _ = stream.set_nodelay(true);
                }
                Ok((Stream::Tcp(stream), Some(peer)))
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok((Stream::Unix(stream), None))
            }
        }
    }
}

/// Whether accepted TCP connections inherit TCP_NODELAY from their listening socket.
const INHERITS_NODELAY: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "macos",
));

/// Where accepted TCP connections get TCP_NODELAY from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoDelay {
    /// From the listening socket, set once.
    Inherited,
    /// Set on each connection.
    PerConnection,
}

/// A listening socket between runtimes: registered with none, duplicated for each
/// serving thread.
#[derive(Debug)]
pub(crate) enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    /// Takes the socket out of the runtime it is registered with.
    pub(crate) fn into_std(self) -> io::Result<StdListener> {
        Ok(match self {
            Listener::Tcp(listener) => StdListener::Tcp(listener.into_std()?),
            Listener::Unix(listener) => StdListener::Unix(listener.into_std()?),
        })
    }
}

impl StdListener {
    /// Another descriptor of the same socket: connections go to whichever accepts first.
    pub(crate) fn try_clone(&self) -> io::Result<StdListener> {
        Ok(match self {
            StdListener::Tcp(listener) => StdListener::Tcp(listener.try_clone()?),
            StdListener::Unix(listener) => StdListener::Unix(listener.try_clone()?),
        })
    }

    /// A socket for another serving thread: a socket of its own on the same address when
    /// this one is TCP with SO_REUSEPORT (the kernel then spreads connections over them,
    /// waking one thread per connection), else another descriptor of this one.
    pub(crate) fn sibling(&self) -> io::Result<StdListener> {
        if let StdListener::Tcp(listener) = self
            && socket2::SockRef::from(listener)
                .reuse_port()
                .unwrap_or(false)
        {
            match listener.local_addr().and_then(reuse_port_socket) {
                Ok(sibling) => return Ok(StdListener::Tcp(sibling)),
                Err(error) => {
                    tracing::debug!(%error, "no SO_REUSEPORT sibling; sharing the one socket");
                }
            }
        }
        self.try_clone()
    }

    /// Registers the socket with the current runtime.
    pub(crate) fn into_tokio(self) -> io::Result<Listener> {
        Ok(match self {
            StdListener::Tcp(listener) => Listener::Tcp(TcpListener::from_std(listener)?),
            StdListener::Unix(listener) => Listener::Unix(UnixListener::from_std(listener)?),
        })
    }
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Self {
        Listener::Tcp(listener)
    }
}

impl From<UnixListener> for Listener {
    fn from(listener: UnixListener) -> Self {
        Listener::Unix(listener)
    }
}

/// The backlog of the sockets this crate binds with SO_REUSEPORT: tokio's for `bind`.
const REUSE_PORT_BACKLOG: i32 = 1024;

/// A non-blocking TCP listening socket on `address` with SO_REUSEPORT (and SO_REUSEADDR,
/// as tokio's `bind` sets it).
fn reuse_port_socket(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(REUSE_PORT_BACKLOG)?;
    Ok(socket.into())
}

/// Whether `listen` was called on `socket` (SO_ACCEPTCONN).
#[cfg(any(
    target_os = "android",
    target_os = "freebsd",
    target_os = "fuchsia",
    target_os = "linux",
))]
fn is_listener(socket: &socket2::Socket) -> io::Result<bool> {
    socket.is_listener()
}

/// Whether `socket` can be a listener, where SO_ACCEPTCONN cannot be read: one with a peer
/// is connected, so it cannot.
#[cfg(not(any(
    target_os = "android",
    target_os = "freebsd",
    target_os = "fuchsia",
    target_os = "linux",
)))]
fn is_listener(socket: &socket2::Socket) -> io::Result<bool> {
    Ok(socket.peer_addr().is_err())
}

/// The path of a Unix socket address, if `address` names one.
pub(crate) fn unix_path(address: &str) -> Option<&Path> {
    if let Some(path) = address.strip_prefix("unix:") {
        return Some(Path::new(path));
    }
    (address.starts_with('/') || address.starts_with('.')).then(|| Path::new(address))
}

/// What an accept error asks of the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptError {
    /// One connection failed before it was accepted (the peer reset it): accept the next.
    Connection,
    /// The process or system is out of something (file descriptors, memory, buffers):
    /// wait, then try again.
    Resources,
}

impl AcceptError {
    pub(crate) fn classify(error: &io::Error) -> AcceptError {
        match error.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock => AcceptError::Connection,
            _ => AcceptError::Resources,
        }
    }
}

/// How long the accept loop waits after a resource error: from 10 ms, doubling, to 1 s.
pub(crate) fn backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(Duration::from_millis(10), |d| {
        (d * 2).min(Duration::from_secs(1))
    })
}

/// An accepted connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Stream::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reuse_port_listener_gives_each_thread_a_socket_of_its_own() {
        use std::os::fd::AsRawFd;

        let listener = Listener::bind_reuse_port("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let original = listener.into_std().unwrap();
        let sibling = original.sibling().unwrap();
        let (StdListener::Tcp(original), StdListener::Tcp(sibling)) = (&original, &sibling) else {
            unreachable!()
        };
        assert_eq!(sibling.local_addr().unwrap(), address);
        // Two sockets, not two descriptors of one: each has its own socket inode.
        let inode = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        assert_ne!(inode(original.as_raw_fd()), inode(sibling.as_raw_fd()));
        // Connections reach both: the kernel spreads them by their source port.
        let mut accepted = [0, 0];
        let clients: Vec<_> = (0..64)
            .map(|_| std::net::TcpStream::connect(address).unwrap())
            .collect();
        for (index, socket) in [original, sibling].into_iter().enumerate() {
            while socket.accept().is_ok() {
                accepted[index] += 1;
            }
        }
        assert_eq!(accepted[0] + accepted[1], clients.len());
        assert!(accepted[0] > 0 && accepted[1] > 0, "{accepted:?}");
        // Without SO_REUSEPORT a sibling is the same socket.
        let plain = Listener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .into_std()
            .unwrap();
        let (StdListener::Tcp(first), StdListener::Tcp(second)) =
            (&plain, &plain.sibling().unwrap())
        else {
            unreachable!()
        };
        assert_eq!(inode(first.as_raw_fd()), inode(second.as_raw_fd()));
    }

    #[tokio::test]
    async fn a_second_reuse_port_bind_shares_the_address_and_a_plain_one_fails() {
        let listener = Listener::bind_reuse_port("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        assert!(Listener::bind_reuse_port(&address).await.is_ok());
        assert!(Listener::bind(&address).await.is_err());
        let unix = Listener::bind_reuse_port("unix:/tmp/never.sock")
            .await
            .unwrap_err();
        assert_eq!(unix.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unix_addresses() {
        assert_eq!(
            unix_path("unix:/run/a.sock"),
            Some(Path::new("/run/a.sock"))
        );
        assert_eq!(unix_path("/run/a.sock"), Some(Path::new("/run/a.sock")));
        assert_eq!(unix_path("./a.sock"), Some(Path::new("./a.sock")));
        assert_eq!(unix_path("127.0.0.1:9000"), None);
        assert_eq!(unix_path("localhost:9000"), None);
    }

    #[test]
    fn backoff_doubles_to_a_second() {
        let mut delay = backoff(None);
        assert_eq!(delay, Duration::from_millis(10));
        for _ in 0..20 {
            delay = backoff(Some(delay));
        }
        assert_eq!(delay, Duration::from_secs(1));
    }

    #[test]
    fn accept_errors() {
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(AcceptError::classify(&emfile), AcceptError::Resources);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(AcceptError::classify(&aborted), AcceptError::Connection);
    }

    #[tokio::test]
    async fn only_a_listening_socket_is_taken_as_a_listener() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let connected = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = tcp.accept().unwrap();
        let dir = std::env::temp_dir().join(format!("fastcgi-uwsgi-fd-{}", std::process::id()));
        let _ = std::fs::create_dir(&dir);
        let path = dir.join("l.sock");
        let _ = std::fs::remove_file(&path);
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (unix_a, unix_b) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let listener = Listener::from_fd(OwnedFd::from(tcp)).unwrap();
        assert_eq!(listener.local_addr(), Some(addr));
        assert!(matches!(
            Listener::from_fd(OwnedFd::from(unix)).unwrap(),
            Listener::Unix(_)
        ));
        let refused: [(&str, OwnedFd); 6] = [
            ("connected TCP", connected.into()),
            ("accepted TCP", accepted.into()),
            ("connected Unix", unix_a.into()),
            ("connected Unix, other end", unix_b.into()),
            ("a file", file.into()),
            ("UDP", udp.into()),
        ];
        for (what, fd) in refused {
            let error = Listener::from_fd(fd).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{what}: {error}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn bind_names_the_address_it_failed_on() {
        let error = Listener::bind("256.0.0.1:1").await.unwrap_err();
        assert!(error.to_string().contains("256.0.0.1:1"), "{error}");
        let error = Listener::bind("unix:/nonexistent-dir/x.sock")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent-dir/x.sock"),
            "{error}"
        );
    }
}
