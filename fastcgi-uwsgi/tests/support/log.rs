//! A `tracing` subscriber that keeps the events it sees, so a test can look at what was
//! logged (the crate has no tracing-subscriber).

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event: its level and its fields as text (`message` among them).
#[derive(Debug, Clone)]
pub struct Logged {
    pub level: Level,
    pub fields: Vec<(String, String)>,
}

impl Logged {
    /// The value of `name`, if the event has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn message(&self) -> &str {
        self.field("message").unwrap_or_default()
    }
}

/// Keeps every event, from every thread it is the default on.
#[derive(Clone, Default)]
pub struct Capture {
    events: Arc<Mutex<Vec<Logged>>>,
    next_span: Arc<AtomicU64>,
}

impl Capture {
    /// The events so far.
    pub fn events(&self) -> Vec<Logged> {
        self.events.lock().unwrap().clone()
    }
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.events.lock().unwrap().push(Logged {
            level: *event.metadata().level(),
            fields: fields.0,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
