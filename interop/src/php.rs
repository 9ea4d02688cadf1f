//! php-fpm (FastCGI application server) and php-cgi (plain CGI program).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::peer::{Peer, free_port, require};
use crate::scratch::ScratchDir;

/// A running php-fpm pool listening on a loopback port.
#[derive(Debug)]
pub struct PhpFpm {
    /// The FastCGI port.
    pub port: u16,
    /// The folder that holds the scripts (`docroot/`).
    pub docroot: PathBuf,
    peer: Peer,
}

/// How [`PhpFpm::start_with`] configures the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhpFpmOptions {
    /// Workers of the static pool (`pm.max_children`).
    pub children: u32,
    /// `pm.max_requests`: a worker exits and is replaced after serving that many requests;
    /// `None` keeps php-fpm's default (0, never). The readiness probe's `/ping` counts as a
    /// request for the worker that answered it.
    pub max_requests: Option<u32>,
    /// `request_terminate_timeout`, rounded up to whole seconds: php-fpm kills a worker whose
    /// request runs longer (the connection closes without END_REQUEST); `None` for no limit.
    pub request_terminate_timeout: Option<Duration>,
    /// PHP's `enable_post_data_reading`. When on, PHP reads a POST body whole before the
    /// script runs (checked with php-fpm 8.2, with or without CONTENT_TYPE; PHP's
    /// `post_max_size`, 8 MB, applies to it); when off, php://input streams the body from
    /// the FastCGI connection as the script reads it (`$_POST` and `$_FILES` stay empty).
    /// A PUT body streams either way (checked).
    pub enable_post_data_reading: bool,
}

impl Default for PhpFpmOptions {
    /// Two workers, no recycling, a 10 s terminate timeout, post data reading off (so that
    /// `checksum.php` answers before it reads the body, whatever its size).
    fn default() -> Self {
        PhpFpmOptions {
            children: 2,
            max_requests: None,
            request_terminate_timeout: Some(Duration::from_secs(10)),
            enable_post_data_reading: false,
        }
    }
}

impl PhpFpm {
    /// Starts `php-fpm8.2` as root (`-R`) with a static pool of `children` workers,
    /// `/ping` and `/status` enabled, and waits until it answers `/ping` (asked with
    /// libfcgi's `cgi-fcgi`, so readiness does not depend on the crates under test).
    /// `request_terminate_timeout` is 3 s and PHP reads POST data before the script runs.
    ///
    /// # Panics
    /// When php-fpm or cgi-fcgi is missing, or php-fpm does not get ready in 10 s.
    pub fn start(dir: &ScratchDir, children: u32) -> PhpFpm {
        Self::start_with(
            dir,
            PhpFpmOptions {
                children,
                max_requests: None,
                request_terminate_timeout: Some(Duration::from_secs(3)),
                enable_post_data_reading: true,
            },
        )
    }

    /// Starts `php-fpm8.2` as [`PhpFpm::start`] does, configured by `options`. Each instance
    /// keeps its configuration, pid file, logs and document root in `dir`, so several run
    /// side by side when each has its own [`ScratchDir`].
    ///
    /// # Panics
    /// As [`PhpFpm::start`].
    pub fn start_with(dir: &ScratchDir, options: PhpFpmOptions) -> PhpFpm {
        let fpm = require("php-fpm8.2", "php-fpm");
        let cgi_fcgi = require("cgi-fcgi", "libfcgi-bin");
        let port = free_port();
        let root = dir.path();
        let docroot = root.join("docroot");
        std::fs::create_dir_all(&docroot).unwrap_or_else(|e| panic!("mkdir docroot: {e}"));
        let terminate = options
            .request_terminate_timeout
            .map_or(0, |t| t.as_secs() + u64::from(t.subsec_nanos() > 0));
        let max_requests = options
            .max_requests
            .map(|n| format!("pm.max_requests = {n}\n"))
            .unwrap_or_default();
        let config = format!(
            "[global]\n\
             pid = {root}/fpm.pid\n\
             error_log = {root}/fpm-error.log\n\
             daemonize = no\n\
             [pool]\n\
             listen = 127.0.0.1:{port}\n\
             pm = static\n\
             pm.max_children = {children}\n\
             pm.status_path = /status\n\
             ping.path = /ping\n\
             catch_workers_output = yes\n\
             request_terminate_timeout = {terminate}s\n\
             {max_requests}",
            root = root.display(),
            children = options.children,
        );
        let conf = dir.write("php-fpm.conf", config);
        let mut command = Command::new(fpm);
        command.args(["-F", "-R", "-n", "-y"]).arg(&conf);
        // Without a php.ini, log messages go to the FastCGI stderr stream (fastcgi.logging).
        command.args(["-d", "log_errors=1", "-d", "display_errors=0"]);
        if !options.enable_post_data_reading {
            command.args(["-d", "enable_post_data_reading=0"]);
        }
        let mut peer = Peer::spawn("php-fpm", command, "QUIT", &root.join("php-fpm.out"));
        peer.wait_ready(Duration::from_secs(10), || {
            let out = Command::new(&cgi_fcgi)
                .env_clear()
                .env("SCRIPT_NAME", "/ping")
                .env("SCRIPT_FILENAME", "/ping")
                .env("REQUEST_METHOD", "GET")
                .args(["-bind", "-connect", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cgi-fcgi: {e}"))?;
            if out.stdout.ends_with(b"pong") {
                Ok(())
            } else {
                Err(format!(
                    "ping answered {:?}",
                    String::from_utf8_lossy(&out.stdout)
                ))
            }
        });
        install_scripts(&docroot);
        PhpFpm {
            port,
            docroot,
            peer,
        }
    }

    /// The FastCGI address, `127.0.0.1:port`.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The master process id (also the process group of the workers).
    pub fn pid(&self) -> u32 {
        self.peer.pid()
    }

    /// Stops php-fpm gracefully (SIGQUIT to its process group: workers finish the request
    /// they serve, for at most five seconds) and waits until it is gone. Dropping does the
    /// same.
    pub fn stop(self) {
        drop(self);
    }

    /// Kills php-fpm and its workers at once (SIGKILL to the process group) and waits
    /// until the master is gone: connections in flight are reset.
    pub fn kill(self) {
        self.peer.kill();
    }

    /// Writes a script into the document root and returns its absolute path.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn script(&self, name: &str, source: &str) -> PathBuf {
        let path = self.docroot.join(name);
        std::fs::write(&path, source).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// What php-fpm printed so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }

    /// php-fpm's own log (`fpm-error.log` next to the document root) so far: worker
    /// starts and exits, and, with `catch_workers_output`, what workers wrote to their
    /// file descriptor 2 (`php://stderr`).
    pub fn error_log(&self) -> String {
        let path = self
            .docroot
            .parent()
            .map(|root| root.join("fpm-error.log"))
            .unwrap_or_default();
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// Runs `php-cgi` once as a plain CGI program: `vars` as its whole environment, `body` on
/// stdin; returns its exit status and output.
///
/// # Panics
/// When php-cgi is missing or cannot be run.
pub fn run_php_cgi<'a>(
    vars: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    body: &[u8],
    cwd: &Path,
) -> Output {
    use std::os::unix::ffi::OsStrExt;
    let php_cgi = require("php-cgi", "php-cgi");
    let mut command = Command::new(php_cgi);
    command.arg("-n").env_clear().current_dir(cwd);
    for (name, value) in vars {
        command.env(
            std::ffi::OsStr::from_bytes(name),
            std::ffi::OsStr::from_bytes(value),
        );
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start php-cgi: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(body);
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("php-cgi: {e}"))
}

/// The scripts the interop tests run, by file name; each documents itself in a comment at
/// its top (`interop/assets/`). The byte pattern of `big.php`, `bytes.php` and
/// `checksum.php` is [`crate::checksum::pattern`].
pub const SCRIPTS: &[(&str, &str)] = &[
    ("server.php", include_str!("../assets/server.php")),
    ("echo.php", include_str!("../assets/echo.php")),
    ("bytes.php", include_str!("../assets/bytes.php")),
    ("finish.php", include_str!("../assets/finish.php")),
    ("status.php", include_str!("../assets/status.php")),
    ("slow.php", include_str!("../assets/slow.php")),
    ("query.php", include_str!("../assets/query.php")),
    ("checksum.php", include_str!("../assets/checksum.php")),
    ("big.php", include_str!("../assets/big.php")),
    ("stderr.php", include_str!("../assets/stderr.php")),
    ("status404.php", include_str!("../assets/status404.php")),
    ("redirect.php", include_str!("../assets/redirect.php")),
    ("sleep.php", include_str!("../assets/sleep.php")),
    ("pid.php", include_str!("../assets/pid.php")),
];

/// Writes every script of [`SCRIPTS`] into `docroot`.
///
/// # Panics
/// When a file cannot be written.
pub fn install_scripts(docroot: &Path) {
    std::fs::create_dir_all(docroot).unwrap_or_else(|e| panic!("mkdir {}: {e}", docroot.display()));
    for (name, source) in SCRIPTS {
        let path = docroot.join(name);
        std::fs::write(&path, source).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Reads what `server.php` prints (`NAME<TAB>hex(value)` lines) back into name/value pairs.
///
/// # Panics
/// When a line is not in that form.
pub fn decode_server_dump(body: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let text = std::str::from_utf8(body).unwrap_or_else(|e| panic!("server.php output: {e}"));
    text.lines()
        .map(|line| {
            let (name, hex) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("server.php line without a tab: {line:?}"));
            let value = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    u8::from_str_radix(&hex[i..i + 2], 16)
                        .unwrap_or_else(|e| panic!("bad hex in {line:?}: {e}"))
                })
                .collect();
            (name.to_owned(), value)
        })
        .collect()
}
