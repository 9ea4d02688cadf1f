//! The example servers of `fastcgi-uwsgi`, run as the binaries a user runs.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;

use crate::fcgi::FcgiConn;
use crate::peer::{Peer, free_port};
use crate::scratch::ScratchDir;
use crate::uwsgi_client;

/// An example binary of this workspace, built by `cargo test --workspace`.
///
/// # Panics
/// When it is missing.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the examples first (`cargo test --workspace` does, or \
         `cargo build -p fastcgi-uwsgi --examples`)",
        path.display()
    );
    path
}

fn spawn_example(dir: &ScratchDir, name: &str, args: &[&str]) -> (Peer, u16) {
    let port = free_port();
    let mut command = Command::new(example(name));
    command.args(args).arg(format!("127.0.0.1:{port}"));
    let peer = Peer::spawn(
        name,
        command,
        "TERM",
        &dir.path().join(format!("{name}.log")),
    );
    (peer, port)
}

/// `fcgi_server` on a free port, once it answers a FastCGI request.
///
/// # Panics
/// When it does not start.
pub fn start_fcgi_server(dir: &ScratchDir) -> (Peer, u16) {
    start_fcgi_server_with(dir, &[])
}

/// `fcgi_server` with `args` before its address, as [`start_fcgi_server`].
///
/// # Panics
/// When it does not start.
pub fn start_fcgi_server_with(dir: &ScratchDir, args: &[&str]) -> (Peer, u16) {
    let (mut peer, port) = spawn_example(dir, "fcgi_server", args);
    peer.wait_ready(Duration::from_secs(10), || {
        let env: cgi_env::Environ = [("REQUEST_METHOD", "GET")].into_iter().collect();
        FcgiConn::connect(port)
            .map_err(|e| e.to_string())?
            .request(&env, Bytes::new(), false)
            .map(drop)
    });
    (peer, port)
}

/// `uwsgi_server` on a free port, once it answers a uwsgi request.
///
/// # Panics
/// When it does not start.
pub fn start_uwsgi_server(dir: &ScratchDir) -> (Peer, u16) {
    start_uwsgi_server_with(dir, &[])
}

/// `uwsgi_server` with `args` before its address, as [`start_uwsgi_server`].
///
/// # Panics
/// When it does not start.
pub fn start_uwsgi_server_with(dir: &ScratchDir, args: &[&str]) -> (Peer, u16) {
    let (mut peer, port) = spawn_example(dir, "uwsgi_server", args);
    peer.wait_ready(Duration::from_secs(10), || {
        let env: cgi_env::Environ = [("REQUEST_METHOD", "GET")].into_iter().collect();
        uwsgi_client::request(port, &env, Bytes::new()).map(drop)
    });
    (peer, port)
}
