//! A backend's error output (FastCGI STDERR) as log lines: split into lines across
//! records, each line bounded and escaped, and the lines of one connection rate-limited,
//! so that a backend can neither forge log lines nor flood the log.
//!
//! The splitter, escaper and limiter are sans-IO (the clock is passed in); [`StderrLog`]
//! puts them together and emits one `tracing` WARN event per line.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The longest line logged, in bytes; the rest of a longer line is dropped. Also the most
/// one request keeps of a line that has not ended yet.
pub(crate) const MAX_LINE: usize = 1024;

/// Lines logged per connection in one [`RATE_WINDOW`]; the others are dropped and
/// counted.
pub(crate) const LINES_PER_WINDOW: u32 = 50;

/// The window [`LINES_PER_WINDOW`] counts over.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(1);

/// One line of error output, ready to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The line without its end, escaped (see [`escape`]).
    pub(crate) text: String,
    /// The line was longer than [`MAX_LINE`] bytes; `text` holds its first ones.
    pub(crate) truncated: bool,
}

/// Splits one request's error output into lines; a line may span any number of records.
///
/// A line ends at `\n` (a `\r` before it is dropped); empty lines are skipped. At most
/// [`MAX_LINE`] bytes of a line are kept, so a backend that never ends its line costs no
/// more than that.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    /// The start of a line not ended yet; at most [`MAX_LINE`] bytes.
    carry: Vec<u8>,
    /// The line in `carry` went past [`MAX_LINE`]: the rest of it is dropped.
    cut: bool,
}

impl LineSplitter {
    /// Takes `chunk`, calling `line` with each line it ends.
    pub(crate) fn push(&mut self, mut chunk: &[u8], mut line: impl FnMut(Line)) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (part, rest) = chunk.split_at(end);
            // The `\r` of a `\r\n` in this chunk is no part of the line (and must not
            // count against its length).
            self.take(part.strip_suffix(b"\r").unwrap_or(part));
            self.emit(&mut line);
            chunk = rest.get(1..).unwrap_or_default();
        }
        self.take(chunk);
    }

    /// The request is over: a line it did not end is logged as it is.
    pub(crate) fn finish(&mut self, mut line: impl FnMut(Line)) {
        self.emit(&mut line);
    }

    /// No line is waiting for its end.
    pub(crate) fn is_empty(&self) -> bool {
        self.carry.is_empty() && !self.cut
    }

    fn take(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.carry.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.carry
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }

    fn emit(&mut self, line: &mut impl FnMut(Line)) {
        let mut bytes = self.carry.as_slice();
        if !self.cut {
            // The `\r` of a `\r\n` split between two chunks.
            bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        }
        if !bytes.is_empty() {
            line(Line {
                text: escape(bytes),
                truncated: self.cut,
            });
        }
        self.carry.clear();
        self.cut = false;
    }
}

/// `bytes` as text that shows every byte and cannot start a new log line or move the
/// terminal's cursor: `\` as `\\`, `\n` `\r` `\t` as themselves escaped, other control
/// characters (ESC, DEL, C1) and the Unicode line separators and bidirectional overrides
/// as `\u{..}`, bytes that are not UTF-8 as `\x..`.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control()
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
                {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// Lets at most [`LINES_PER_WINDOW`] lines through in each [`RATE_WINDOW`], and counts
/// the ones it drops.
#[derive(Debug, Default)]
pub(crate) struct RateLimit {
    window_start: Option<Instant>,
    admitted: u32,
    dropped: u64,
}

impl RateLimit {
    /// Whether a line seen at `now` is logged: `Some(dropped)` with the number of lines
    /// dropped since the last one logged (to say in this one), or `None` to drop it.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let window_over = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= RATE_WINDOW);
        if window_over {
            self.window_start = Some(now);
            self.admitted = 0;
        }
        if self.admitted < LINES_PER_WINDOW {
            self.admitted += 1;
            Some(std::mem::take(&mut self.dropped))
        } else {
            self.dropped = self.dropped.saturating_add(1);
            None
        }
    }

    /// The lines dropped and not reported yet, now reported.
    pub(crate) fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// The message logged for `line`, saying when it was cut and how many lines were dropped
/// before it.
pub(crate) fn message(line: &Line, dropped: u64) -> String {
    let mut message = format!("stderr: {}", line.text);
    if line.truncated {
        let _ = write!(message, " [line truncated to {MAX_LINE} bytes]");
    }
    if dropped > 0 {
        let _ = write!(message, " [{}]", dropped_text(dropped));
    }
    message
}

fn dropped_text(dropped: u64) -> String {
    format!(
        "{dropped} earlier stderr line(s) dropped: over {LINES_PER_WINDOW} per second on this connection"
    )
}

/// One connection's error-output log: the rate limit all its requests share.
#[derive(Debug, Default)]
pub(crate) struct StderrLog {
    limit: RateLimit,
}

/// Which request a line came from, for the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    /// The backend's address.
    pub(crate) backend: &'a str,
    /// The FastCGI request id.
    pub(crate) request_id: u16,
    /// The request's method and URI, escaped.
    pub(crate) request: &'a str,
}

impl StderrLog {
    /// Logs the lines `chunk` ends, keeping the start of one it does not end in `lines`.
    pub(crate) fn chunk(&mut self, source: Source<'_>, lines: &mut LineSplitter, chunk: &[u8]) {
        let now = Instant::now();
        lines.push(chunk, |line| self.log(source, &line, now));
    }

    /// The request is over: logs the line it did not end.
    pub(crate) fn end_request(&mut self, source: Source<'_>, lines: &mut LineSplitter) {
        let now = Instant::now();
        lines.finish(|line| self.log(source, &line, now));
    }

    /// The connection is over: says how many lines were dropped since the last logged.
    pub(crate) fn end_connection(&mut self, backend: &str) {
        let dropped = self.limit.take_dropped();
        if dropped > 0 {
            tracing::warn!(backend, "{}", dropped_text(dropped));
        }
    }

    fn log(&mut self, source: Source<'_>, line: &Line, now: Instant) {
        if let Some(dropped) = self.limit.admit(now) {
            tracing::warn!(
                backend = source.backend,
                request_id = source.request_id,
                request = source.request,
                "{}",
                message(line, dropped)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Line> {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, |line| lines.push(line));
        }
        splitter.finish(|line| lines.push(line));
        lines
    }

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|line| line.text.as_str()).collect()
    }

    #[test]
    fn lines_span_chunks_and_lose_their_ends() {
        let whole: &[u8] = b"a\nb\r\nforged: line\x1b[31m";
        let expected = ["a", "b", "forged: line\\u{1b}[31m"];
        assert_eq!(texts(&split(&[whole])), expected);
        // Every split of the same bytes gives the same lines.
        for at in 0..=whole.len() {
            let (first, second) = whole.split_at(at);
            assert_eq!(texts(&split(&[first, second])), expected, "split at {at}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(texts(&split(&bytes)), expected);
        assert!(split(&[b"\n\r\n\n"]).is_empty(), "empty lines are skipped");
    }

    #[test]
    fn a_long_line_is_truncated_and_the_carry_bounded() {
        let long = vec![b'x'; 3000];
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in long.chunks(100) {
            splitter.push(chunk, |line| lines.push(line));
            assert!(splitter.carry.len() <= MAX_LINE);
        }
        splitter.push(b"\nnext\n", |line| lines.push(line));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text.len(), MAX_LINE);
        assert!(lines[0].truncated);
        assert_eq!(
            lines[1],
            Line {
                text: "next".into(),
                truncated: false
            }
        );
        // Exactly MAX_LINE bytes, with a \r\n in another chunk, is not truncated.
        let exact = vec![b'y'; MAX_LINE];
        let lines = split(&[&exact, b"\r\n"]);
        assert!(!lines[0].truncated);
        assert_eq!(lines[0].text.len(), MAX_LINE);
        // A line never ended is flushed, cut, at the end of the request.
        let lines = split(&[&long]);
        assert!(lines[0].truncated);
    }

    #[test]
    fn control_characters_and_bad_utf8_are_escaped() {
        assert_eq!(escape(b"plain text"), "plain text");
        assert_eq!(escape(b"a\rb\tc\nd"), "a\\rb\\tc\\nd");
        assert_eq!(escape(b"\x1b[2J\x7f\x00"), "\\u{1b}[2J\\u{7f}\\u{0}");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
        assert_eq!(escape(b"caf\xc3\xa9 \xff\xfe"), "caf\u{e9} \\xff\\xfe");
        assert_eq!(
            escape("x\u{2028}y\u{202e}z\u{85}".as_bytes()),
            "x\\u{2028}y\\u{202e}z\\u{85}"
        );
        let escaped = escape(&(0u8..=255).collect::<Vec<u8>>());
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
    }

    #[test]
    fn the_limiter_drops_past_the_rate_and_reports_the_count() {
        let start = Instant::now();
        let mut limit = RateLimit::default();
        for _ in 0..LINES_PER_WINDOW {
            assert_eq!(limit.admit(start), Some(0));
        }
        for _ in 0..7 {
            assert_eq!(limit.admit(start + Duration::from_millis(500)), None);
        }
        // The next window lets lines through again, the first one reporting the drops.
        let next = start + RATE_WINDOW;
        assert_eq!(limit.admit(next), Some(7));
        assert_eq!(limit.admit(next), Some(0));
        for _ in 2..LINES_PER_WINDOW {
            assert_eq!(limit.admit(next), Some(0));
        }
        assert_eq!(limit.admit(next), None);
        assert_eq!(limit.take_dropped(), 1, "reported at the connection's end");
        assert_eq!(limit.take_dropped(), 0);
    }

    #[test]
    fn the_message_says_what_was_cut_and_dropped() {
        let line = Line {
            text: "oops".into(),
            truncated: true,
        };
        assert_eq!(
            message(&line, 3),
            "stderr: oops [line truncated to 1024 bytes] [3 earlier stderr line(s) dropped: \
             over 50 per second on this connection]"
        );
        let line = Line {
            text: "fine".into(),
            truncated: false,
        };
        assert_eq!(message(&line, 0), "stderr: fine");
    }
}
