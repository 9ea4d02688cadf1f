//! uWSGI running one Python WSGI application on a uwsgi socket and a FastCGI socket at once.

use std::process::Command;
use std::time::Duration;

use crate::http_client;
use crate::peer::{Peer, free_port, require};
use crate::scratch::ScratchDir;

/// The WSGI application of the tests (paths are matched on the end of `PATH_INFO`):
/// - `/ready` answers 200 `ready`;
/// - `/bytes?n=N` and `/big?bytes=N` answer 200 with N bytes of [`crate::checksum::pattern`]
///   (byte i is `(i % 65536) % 251`, as `big.php`) and a Content-Length;
/// - `/status/404` answers 404, `text/plain`, `not found\n`;
/// - anything else reads the whole body and answers 200, `text/plain`, lines read back by
///   [`crate::app_answer::AppAnswer::parse`]: the body's length and CRC-32 (`zlib.crc32`),
///   `wsgi.url_scheme`, and every string value of the environ (`REQUEST_METHOD`,
///   `PATH_INFO`, `QUERY_STRING`, `CONTENT_LENGTH`, `HTTP_*`...) as hex.
pub const APP: &str = include_str!("../assets/app.py");

/// A running uWSGI instance.
#[derive(Debug)]
pub struct Uwsgi {
    /// The uwsgi-protocol socket.
    pub uwsgi_port: u16,
    /// The FastCGI socket.
    pub fastcgi_port: u16,
    /// A plain HTTP socket, used to probe readiness.
    pub http_port: u16,
    peer: Peer,
}

impl Uwsgi {
    /// Starts uWSGI (master and two worker processes) with the python3 plugin serving [`APP`]
    /// on three loopback sockets of distinct free ports — uwsgi protocol (`--socket`),
    /// FastCGI (`--fastcgi-socket`) and HTTP (`--http-socket`) — and waits until a request
    /// through its HTTP socket gets an answer: uWSGI binds its sockets before its workers
    /// exist, so an open port is not readiness.
    ///
    /// # Panics
    /// When uwsgi or its python3 plugin is missing, or it does not get ready in 15 s.
    pub fn start(dir: &ScratchDir) -> Uwsgi {
        Self::start_app(dir, APP)
    }

    /// Starts uWSGI serving `app_source` instead of [`APP`].
    ///
    /// # Panics
    /// As [`Uwsgi::start`].
    pub fn start_app(dir: &ScratchDir, app_source: &str) -> Uwsgi {
        let uwsgi = require("uwsgi", "uwsgi-core uwsgi-plugin-python3");
        assert!(
            std::path::Path::new("/usr/lib/uwsgi/plugins/python3_plugin.so").exists(),
            "uWSGI's python3 plugin is missing: apt-get install -y uwsgi-plugin-python3"
        );
        let app = dir.write("app.py", app_source);
        let (uwsgi_port, fastcgi_port, http_port) = (free_port(), free_port(), free_port());
        let mut command = Command::new(uwsgi);
        command
            .args(["--plugins", "python3", "--master", "--processes", "2"])
            .args(["--socket", &format!("127.0.0.1:{uwsgi_port}")])
            .args(["--fastcgi-socket", &format!("127.0.0.1:{fastcgi_port}")])
            .args(["--http-socket", &format!("127.0.0.1:{http_port}")])
            .arg("--wsgi-file")
            .arg(&app)
            .args([
                "--buffer-size",
                "32768",
                "--die-on-term",
                "--disable-logging",
            ]);
        let mut peer = Peer::spawn("uwsgi", command, "TERM", &dir.path().join("uwsgi.out"));
        peer.wait_ready(Duration::from_secs(15), || {
            let response = http_client::request(http_port, "GET", "/ready", &[], b"")?;
            if response.status == 200 {
                Ok(())
            } else {
                Err(format!("status {}", response.status))
            }
        });
        Uwsgi {
            uwsgi_port,
            fastcgi_port,
            http_port,
            peer,
        }
    }

    /// The uwsgi-protocol address, `127.0.0.1:uwsgi_port`.
    pub fn uwsgi_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.uwsgi_port))
    }

    /// The FastCGI address, `127.0.0.1:fastcgi_port`.
    pub fn fastcgi_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.fastcgi_port))
    }

    /// Stops uWSGI (SIGTERM to its process group, `--die-on-term`) and waits until it is
    /// gone. Dropping does the same.
    pub fn stop(self) {
        drop(self);
    }

    /// Kills uWSGI and its workers at once (SIGKILL to the process group).
    pub fn kill(self) {
        self.peer.kill();
    }

    /// What uWSGI printed so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
