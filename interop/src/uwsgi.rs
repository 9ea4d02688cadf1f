//! uWSGI running one Python WSGI application on a uwsgi socket and a FastCGI socket at once.

use std::process::Command;
use std::time::Duration;

use crate::http_client;
use crate::peer::{Peer, free_port, require};
use crate::scratch::ScratchDir;

/// The WSGI application of the tests: `/ready`; `/bytes?n=N` answers N bytes of
/// [`crate::checksum::pattern`]; anything else answers JSON with the environ's string
/// values, `wsgi.url_scheme`, and the body's length and CRC-32.
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
    /// Starts uWSGI with the python3 plugin serving [`APP`] and waits until a request through its HTTP socket gets an answer: uWSGI
    /// binds its sockets before its workers exist, so an open port is not readiness.
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

    /// What uWSGI printed so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
