//! Running this package's example binaries from a test.

use std::path::PathBuf;
use std::process::Child;

/// An example binary of this package, built by `cargo test` next to the test binary.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test -p fastcgi-uwsgi` builds it",
        path.display()
    );
    path
}

/// A started example; killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
