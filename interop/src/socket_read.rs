//! One `read` for every blocking socket in the harness.
//!
//! A socket with a receive timeout (`SO_RCVTIMEO`, which every socket here has) is never
//! restarted after a signal: Linux returns `EINTR` instead, and it does so even without a
//! signal handler when the process is stopped and continued (a debugger, a paused CI
//! machine). That is not a failure of the peer under test, so it is read again.

use std::io::{ErrorKind, Read, Result};

/// Reads into `buf` like [`Read::read`], retrying when a signal interrupted the call.
///
/// # Errors
/// Any error of the underlying read other than [`ErrorKind::Interrupted`].
pub fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
