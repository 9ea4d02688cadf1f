//! Harness for the interop suite: starts real peers (php-fpm, uWSGI, nginx, HAProxy, Apache,
//! php-cgi) as child processes with temporary configurations on free loopback ports, waits
//! until they answer, and stops them by process group when dropped, also when a test fails.
//!
//! The tests are in `tests/`. They need the Debian packages that `scripts/install-peers.sh`
//! installs; without them each test fails with a message that says what to install, unless
//! the build sets `CGI_CODECS_SKIP_INTEROP=1`, which compiles them as ignored.
#![forbid(unsafe_code)]

pub mod apache;
pub mod app_answer;
pub mod checksum;
pub mod environ;
pub mod examples;
pub mod fcgi;
pub mod haproxy;
pub mod http_client;
pub mod nginx;
pub mod peer;
pub mod php;
pub mod scratch;
pub mod servers;
pub mod socket_read;
pub mod uwsgi;
pub mod uwsgi_client;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The examples of `cgi-env`'s README (its page on crates.io), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../cgi-env/README.md")]
pub struct CgiEnvReadmeDoctests;

/// The examples of `fastcgi-uwsgi`'s README (its page on crates.io), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../fastcgi-uwsgi/README.md")]
pub struct FastcgiUwsgiReadmeDoctests;
