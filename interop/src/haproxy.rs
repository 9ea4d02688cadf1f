//! HAProxy with a configuration of the test's own, run in the foreground.

use std::process::Command;

use crate::http_client;
use crate::peer::{Peer, free_port, require};
use crate::scratch::ScratchDir;

/// A running HAProxy.
#[derive(Debug)]
pub struct Haproxy {
    /// The HTTP port its one frontend listens on.
    pub port: u16,
    dir: std::path::PathBuf,
    peer: Peer,
}

impl Haproxy {
    /// Starts HAProxy (`-db`, one thread) with one HTTP frontend on a free loopback port
    /// that answers `/__ready` itself (`monitor-uri`) and holds `frontend` (e.g.
    /// `default_backend app`), followed by `sections` (backends, `fcgi-app` sections),
    /// checks the configuration with `-c` first, and waits until it answers.
    ///
    /// # Panics
    /// When haproxy is missing, rejects the configuration or does not get ready in 10 s.
    pub fn start(dir: &ScratchDir, frontend: &str, sections: &str) -> Haproxy {
        let haproxy = require("haproxy", "haproxy");
        let port = free_port();
        let root = dir.path().join("haproxy");
        let config = format!(
            "global\n  nbthread 1\n  maxconn 512\n\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  \
             timeout server 60s\n  timeout http-keep-alive 10s\n\n\
             frontend front\n  bind 127.0.0.1:{port}\n  monitor-uri /__ready\n{frontend}\n\n\
             {sections}\n"
        );
        let conf = dir.write("haproxy/haproxy.cfg", config);
        let check = Command::new(&haproxy)
            .arg("-c")
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap_or_else(|e| panic!("haproxy -c: {e}"));
        assert!(
            check.status.success(),
            "haproxy rejects {}: {}{}",
            conf.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut command = Command::new(haproxy);
        command.arg("-db").arg("-f").arg(&conf);
        let mut peer = Peer::spawn("haproxy", command, "TERM", &root.join("haproxy.out"));
        http_client::wait_ready(&mut peer, port, "/__ready");
        Haproxy {
            port,
            dir: root,
            peer,
        }
    }

    /// The configuration file and what HAProxy printed.
    pub fn log(&self) -> String {
        let config = std::fs::read_to_string(self.dir.join("haproxy.cfg")).unwrap_or_default();
        format!("config:\n{config}\noutput:\n{}", self.peer.log())
    }
}
