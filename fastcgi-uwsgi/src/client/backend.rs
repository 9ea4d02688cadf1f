//! Where a backend listens, and connecting to it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

use super::error::{ClientError, TimeoutKind};
use crate::listener::{Stream, unix_path};

/// A backend's address: `host:port` for TCP, or a Unix socket path written `unix:PATH` or
/// as a path starting with `/` or `.` (as [`crate::Listener::bind`] takes them).
///
/// ```
/// use fastcgi_uwsgi::client::Backend;
///
/// assert_eq!(Backend::new("127.0.0.1:9000").to_string(), "127.0.0.1:9000");
/// assert_eq!(Backend::new("unix:/run/php/php-fpm.sock").to_string(), "unix:/run/php/php-fpm.sock");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A TCP address, resolved at each connect.
    Tcp(String),
    /// A Unix-domain stream socket.
    Unix(PathBuf),
}

impl Backend {
    /// The backend at `address`.
    pub fn new(address: &str) -> Backend {
        match unix_path(address) {
            Some(path) => Backend::Unix(path.to_owned()),
            None => Backend::Tcp(address.to_owned()),
        }
    }

    /// Connects within `timeout`. With `nodelay`, a TCP connection sends each write at
    /// once (`TCP_NODELAY`): wanted for a connection that writes a request in several
    /// pieces, a system call saved for one that writes it whole at once.
    pub(crate) async fn connect(
        &self,
        timeout: Duration,
        nodelay: bool,
    ) -> Result<Stream, ClientError> {
        let connecting = async {
            match self {
                Backend::Tcp(address) => {
                    let stream = TcpStream::connect(address.as_str()).await?;
                    if nodelay {
                        stream.set_nodelay(true)?;
                    }
                    Ok(Stream::Tcp(stream))
                }
                Backend::Unix(path) => UnixStream::connect(path).await.map(Stream::Unix),
            }
        };
        match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(source)) => Err(ClientError::Connect {
                backend: self.to_string(),
                source,
            }),
            Err(_) => Err(ClientError::Timeout {
                backend: self.to_string(),
                kind: TimeoutKind::Connect,
            }),
        }
    }
}

impl From<&str> for Backend {
    fn from(address: &str) -> Backend {
        Backend::new(address)
    }
}

impl From<String> for Backend {
    fn from(address: String) -> Backend {
        Backend::new(&address)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Tcp(address) => f.write_str(address),
            Backend::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_names_the_backend() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let error = Backend::new(&address)
            .connect(Duration::from_secs(5), true)
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error}");
        assert!(error.to_string().contains(&address), "{error}");
        let error = Backend::new("unix:/nonexistent-dir/php.sock")
            .connect(Duration::from_secs(5), true)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent-dir/php.sock"),
            "{error}"
        );
    }
}
