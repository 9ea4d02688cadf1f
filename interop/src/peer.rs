//! A real server run as a child process in its own process group.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds `binary` on `PATH`.
///
/// # Panics
/// When it is missing, with a message that says which Debian package brings it and how to
/// opt out of the interop suite.
pub fn require(binary: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|dir| dir.join(binary))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "interop peer `{binary}` not found: install it with `scripts/install-peers.sh` \
             (apt-get install -y {package}), or build with CGI_CODECS_SKIP_INTEROP=1 to mark \
             the interop tests ignored"
        )
    })
}

/// A free TCP port on 127.0.0.1 (asked of the kernel, then released for the peer to bind).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    // The port is free when asked, but not held: the kernel may hand the same port to the
    // next call before the peer has bound it. Never give a port twice in one process.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or_else(|e| panic!("no free port on 127.0.0.1: {e}"), |a| a.port());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 that was not given before");
}

/// A running peer. Dropping it stops its whole process group: first with its graceful stop
/// signal, then, after five seconds, with SIGKILL.
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    stop_signal: &'static str,
    log: PathBuf,
    /// Set once the process group is known to be gone (after [`Peer::kill`]).
    reaped: bool,
}

impl Peer {
    /// Starts `command` in a process group of its own, stdout and stderr going to `log`.
    ///
    /// # Panics
    /// When the process cannot be started.
    pub fn spawn(name: &str, mut command: Command, stop_signal: &'static str, log: &Path) -> Peer {
        let out =
            File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Peer {
            name: name.to_owned(),
            child,
            stop_signal,
            log: log.to_owned(),
            reaped: false,
        }
    }

    /// The peer's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the peer printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Calls `probe` until it succeeds, then returns its result.
    ///
    /// # Panics
    /// When the peer exits or `timeout` passes first; the message holds the last probe error
    /// and the peer's log.
    pub fn wait_ready<T>(
        &mut self,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited before it was ready ({status}); log:\n{}",
                    self.name,
                    self.log()
                );
            }
            match probe() {
                Ok(value) => return value,
                Err(e) => last = e,
            }
            assert!(
                Instant::now() <= deadline,
                "{} not ready after {timeout:?}: {last}; log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Kills the whole process group at once (SIGKILL, no graceful stop) and waits for the
    /// leader to exit.
    pub fn kill(mut self) {
        self.signal_group("KILL");
        let _ = self.child.wait();
        self.reaped = true;
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        self.signal_group(self.stop_signal);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; make sure no worker of the group outlives it.
                self.signal_group("KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal_group("KILL");
        let _ = self.child.wait();
    }
}
