//! Inputs and helpers for the `codecs` benchmark of the FastCGI and uwsgi codecs.
//!
//! The bench binary (`benches/codecs.rs`) measures, on the same inputs and in the same
//! run: a typical request through both protocols, request bodies next to memcpy,
//! php-fpm-shaped and uwsgi responses, other crates doing the same work, and allocations
//! per request; then it prints a Markdown summary. This library holds what is worth
//! testing on its own:
//!
//! - [`inputs`]: the typical request's environ (read from the nginx/php-fpm capture, plus
//!   browser headers), wire images of requests, bodies and responses.
//! - [`memory_stream`]: an in-memory duplex stream and a runtime-free `block_on`, to drive
//!   async crates without sockets.
//! - [`estimates`]: the median out of criterion's `estimates.json`.
//! - [`floor`]: the least work a decoder of the typical request's name-value block does
//!   (a bounds-checked scan of the lengths into one `Vec` of offsets), timed beside ours.
//! - [`summary`]: the Markdown table.
//!
//! ```
//! let env = benches::inputs::typical_environ();
//! assert_eq!(env.get_str("REQUEST_METHOD"), Some("GET"));
//! assert!(env.len() > 30);
//! ```
#![forbid(unsafe_code)]

pub mod estimates;
pub mod floor;
pub mod inputs;
pub mod memory_stream;
pub mod summary;
