//! Apache httpd with a minimal, self-contained configuration of the test's own.

use std::fmt::Write as _;
use std::process::Command;

use crate::http_client;
use crate::peer::{Peer, free_port, require};
use crate::scratch::ScratchDir;

/// Where Debian's apache2 keeps its loadable modules.
const MODULES: &str = "/usr/lib/apache2/modules";

/// A running Apache httpd.
#[derive(Debug)]
pub struct Apache {
    /// The HTTP port it listens on.
    pub port: u16,
    dir: std::path::PathBuf,
    peer: Peer,
}

impl Apache {
    /// Starts `apache2 -DFOREGROUND` with a configuration written from scratch (no
    /// `/etc/apache2`): the event MPM, `mod_authz_core` and the `modules` named (e.g.
    /// `["proxy", "proxy_fcgi"]`, loaded from Debian's module directory), ServerRoot,
    /// PidFile, logs and runtime files in the scratch directory, `User nobody` /
    /// `Group nogroup` (it runs as root), one `Listen` on a free loopback port, a document
    /// root holding `__ready` for the readiness probe, and `directives` (e.g. `ProxyPass`
    /// lines) at server level. Checks the configuration with `-t` first and waits until it
    /// answers.
    ///
    /// # Panics
    /// When apache2 or a module is missing, the configuration is rejected, or it does not
    /// get ready in 10 s.
    pub fn start(dir: &ScratchDir, modules: &[&str], directives: &str) -> Apache {
        let apache = require("apache2", "apache2-bin");
        let port = free_port();
        let root = dir.path().join("apache");
        dir.write("apache/htdocs/__ready", "ready\n");
        let mut loads = String::new();
        for module in ["mpm_event", "authz_core"].iter().chain(modules) {
            let path = format!("{MODULES}/mod_{module}.so");
            assert!(
                std::path::Path::new(&path).is_file(),
                "{path} is missing: install it with `scripts/install-peers.sh` (apt-get \
                 install -y apache2-bin), or build with CGI_CODECS_SKIP_INTEROP=1 to mark the \
                 interop tests ignored"
            );
            let _ = writeln!(loads, "LoadModule {module}_module {path}");
        }
        let r = root.display();
        let config = format!(
            "ServerRoot {r}\nServerName localhost\nDefaultRuntimeDir {r}\nPidFile {r}/httpd.pid\n\
             ErrorLog {r}/error.log\nLogLevel warn\n{loads}\
             User nobody\nGroup nogroup\n\
             Listen 127.0.0.1:{port}\n\
             StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMaxRequestWorkers 16\n\
             Timeout 60\nKeepAlive On\nMaxKeepAliveRequests 0\n\
             DocumentRoot {r}/htdocs\n\
             <Directory />\n  Require all granted\n</Directory>\n\
             {directives}\n"
        );
        let conf = dir.write("apache/httpd.conf", config);
        let check = Command::new(&apache)
            .arg("-t")
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap_or_else(|e| panic!("apache2 -t: {e}"));
        assert!(
            check.status.success(),
            "apache2 rejects {}: {}{}",
            conf.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut command = Command::new(apache);
        command.arg("-f").arg(&conf).arg("-DFOREGROUND");
        let mut peer = Peer::spawn("apache2", command, "TERM", &root.join("apache.out"));
        http_client::wait_ready(&mut peer, port, "/__ready");
        Apache {
            port,
            dir: root,
            peer,
        }
    }

    /// Apache's error log (and anything it printed).
    pub fn log(&self) -> String {
        let error_log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        format!("{}{error_log}", self.peer.log())
    }
}
