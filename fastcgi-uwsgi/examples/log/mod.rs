//! A `tracing` subscriber for the examples that writes WARN and ERROR events to stderr,
//! one line each (the crate logs backend STDERR and failures with `tracing`; the examples
//! take no logging crate just to print them).

use std::fmt::Debug;
use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Prints the process's WARN and ERROR events to stderr after `name: `.
pub fn init(name: &'static str) {
    // Only fails when a subscriber is already set: that one is kept.
    let _ = tracing::subscriber::set_global_default(Stderr { name });
}

struct Stderr {
    name: &'static str,
}

/// An event's fields as `message key=value ...`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.record(field, &format!("{value:?}"));
    }
}

impl Line {
    /// Control characters are escaped wherever they are (`{:?}` of a `%value` field does
    /// not escape it): one event stays one line.
    fn record(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            for c in value.chars() {
                if c.is_control() {
                    let _ = write!(self.message, "{}", c.escape_default());
                } else {
                    self.message.push(c);
                }
            }
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans are not printed; every span gets the same id.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        let text = format!(
            "{}: {} {}{}\n",
            self.name,
            event.metadata().level(),
            line.message,
            line.fields
        );
        let _ = std::io::stderr().write_all(text.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
