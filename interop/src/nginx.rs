//! nginx with a configuration of the test's own.

use std::process::Command;

use crate::http_client;
use crate::peer::{Peer, free_port, require};
use crate::scratch::ScratchDir;

/// A running nginx.
#[derive(Debug)]
pub struct Nginx {
    /// The HTTP port it listens on.
    pub port: u16,
    dir: std::path::PathBuf,
    peer: Peer,
}

impl Nginx {
    /// Starts nginx with `http` (directives in its `http` block, e.g. `upstream`s) and
    /// `locations` (directives inside its one `server` block, which
    /// listens on a free loopback port with `server_name localhost`), with copies of the
    /// stock `fastcgi_params`, `fastcgi.conf` and `uwsgi_params` beside the config so that
    /// `include fastcgi.conf;` works, and waits until it answers.
    ///
    /// # Panics
    /// When nginx is missing or does not get ready in 10 s.
    pub fn start(dir: &ScratchDir, http: &str, locations: &str) -> Nginx {
        let nginx = require("nginx", "nginx-light");
        let port = free_port();
        let root = dir.path().join("nginx");
        for name in ["fastcgi_params", "fastcgi.conf", "uwsgi_params"] {
            let stock = std::fs::read(format!("/etc/nginx/{name}"))
                .unwrap_or_else(|e| panic!("/etc/nginx/{name}: {e} (is nginx installed?)"));
            dir.write(&format!("nginx/{name}"), stock);
        }
        let r = root.display();
        let config = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root root;\n\
             pid {r}/nginx.pid;\nerror_log {r}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {r}/body;\n  fastcgi_temp_path {r}/fastcgi;\n\
               uwsgi_temp_path {r}/uwsgi;\n  proxy_temp_path {r}/proxy;\n  scgi_temp_path {r}/scgi;\n\
               client_max_body_size 64m;\n{http}\n\
               server {{\n    listen 127.0.0.1:{port};\n    server_name localhost;\n\
                 location = /__ready {{ return 200 \"ready\"; }}\n{locations}\n  }}\n}}\n"
        );
        let conf = dir.write("nginx/nginx.conf", config);
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(&root)
            .arg("-e")
            .arg(root.join("error.log"))
            .arg("-c")
            .arg(&conf);
        let mut peer = Peer::spawn("nginx", command, "QUIT", &root.join("nginx.out"));
        http_client::wait_ready(&mut peer, port, "/__ready");
        Nginx {
            port,
            dir: root,
            peer,
        }
    }

    /// The version nginx reports, e.g. `1.22.1` (for SERVER_SOFTWARE).
    ///
    /// # Panics
    /// When `nginx -v` cannot be run.
    pub fn version() -> String {
        let out = Command::new(require("nginx", "nginx-light"))
            .arg("-v")
            .output()
            .unwrap_or_else(|e| panic!("nginx -v: {e}"));
        let text = String::from_utf8_lossy(&out.stderr);
        text.trim()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// nginx's error log (and anything it printed).
    pub fn log(&self) -> String {
        let error_log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        format!("{}{error_log}", self.peer.log())
    }
}
