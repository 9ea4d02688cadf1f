//! Helpers shared by the integration tests: feeding decoders with arbitrary splits and
//! building environs.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use uwsgi_codec::{
    Limits, ProtocolError, RequestDecoder, RequestEvent, ResponseDecoder, ResponseEvent, Violation,
};

/// An event with body chunks merged, so that runs over different splits compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    RequestHead {
        modifier1: u8,
        modifier2: u8,
        vars: Vec<(Vec<u8>, Vec<u8>)>,
        content_length: u64,
    },
    ResponseHead {
        status: u16,
        version: Option<http::Version>,
        reason: Vec<u8>,
        /// As the `HeaderMap` lists them: lowercase names.
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        /// The length of the head.
        body_offset: usize,
    },
    Body(Vec<u8>),
    End,
    Ping,
    Signal(u8),
    Packet(u8, u8, Vec<u8>),
}

/// The outcome of a run: the events seen and the error that stopped it, if any (as
/// [`normalize`] leaves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub events: Vec<Seen>,
    pub error: Option<ProtocolError>,
}

impl Run {
    pub fn body(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Seen::Body(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

fn push(events: &mut Vec<Seen>, seen: Seen) {
    if let (Some(Seen::Body(last)), Seen::Body(more)) = (events.last_mut(), &seen) {
        last.extend_from_slice(more);
        return;
    }
    events.push(seen);
}

/// An error without the byte count that depends on how the input was split (how many
/// trailing bytes were buffered when they were seen): that count is set to 0.
pub fn normalize(mut error: ProtocolError) -> ProtocolError {
    if let Violation::TrailingBytes { count } = &mut error.violation {
        *count = 0;
    }
    error
}

/// Cut points (sorted, deduplicated, inside the input) from arbitrary numbers.
pub fn cuts(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw
        .iter()
        .map(|c| if len == 0 { 0 } else { c % len })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Every byte on its own.
pub fn byte_by_byte(len: usize) -> Vec<usize> {
    (1..len).collect()
}

fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        if cut > start && cut <= input.len() {
            out.push(&input[start..cut]);
            start = cut;
        }
    }
    out.push(&input[start..]);
    out
}

fn request_seen(event: RequestEvent) -> Seen {
    match event {
        RequestEvent::Head(head) => Seen::RequestHead {
            modifier1: head.modifier1.0,
            modifier2: head.modifier2,
            vars: head
                .environ
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
            content_length: head.content_length,
        },
        RequestEvent::Body(chunk) => Seen::Body(chunk.to_vec()),
        RequestEvent::End => Seen::End,
        RequestEvent::Ping => Seen::Ping,
        RequestEvent::Signal(signal) => Seen::Signal(signal.number),
        RequestEvent::Packet(packet) => Seen::Packet(
            packet.modifier1().0,
            packet.modifier2(),
            packet.payload().to_vec(),
        ),
        other => panic!("an event these tests do not know: {other:?}"),
    }
}

fn response_seen(event: ResponseEvent) -> Seen {
    match event {
        ResponseEvent::Head(head) => Seen::ResponseHead {
            status: head.status.as_u16(),
            version: head.version,
            reason: head.reason.map(|r| r.to_vec()).unwrap_or_default(),
            headers: head
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec()))
                .collect(),
            body_offset: head.body_offset,
        },
        ResponseEvent::Body(chunk) => Seen::Body(chunk.to_vec()),
        ResponseEvent::End => Seen::End,
        other => panic!("an event these tests do not know: {other:?}"),
    }
}

/// Feeds `input` to a request decoder in the pieces `cuts` makes, then reports the end of
/// the stream.
pub fn run_request(input: &[u8], cuts: &[usize], limits: Limits) -> Run {
    let mut decoder = RequestDecoder::new(limits);
    drive(input, cuts, |buffer, eof| {
        let event = if eof {
            decoder.decode_eof(buffer)
        } else {
            decoder.decode(buffer)
        };
        event.map(|e| e.map(request_seen))
    })
}

/// Feeds `input` to a response decoder in the pieces `cuts` makes, then reports the end
/// of the stream.
pub fn run_response(input: &[u8], cuts: &[usize], decoder: ResponseDecoder) -> Run {
    let mut decoder = decoder;
    drive(input, cuts, |buffer, eof| {
        let event = if eof {
            decoder.decode_eof(buffer)
        } else {
            decoder.decode(buffer)
        };
        event.map(|e| e.map(response_seen))
    })
}

/// The violation that stopped a run, checked to be at `offset`.
pub fn violation_at(run: &Run, offset: u64) -> &Violation {
    match &run.error {
        Some(error) if error.offset == offset => &error.violation,
        other => panic!("expected an error at offset {offset}, got {other:?}"),
    }
}

/// Feeds the pieces to `step` (not at end of stream), then calls it at end of stream until
/// it has nothing more; stops at the first error.
fn drive(
    input: &[u8],
    cuts: &[usize],
    mut step: impl FnMut(&mut BytesMut, bool) -> Result<Option<Seen>, ProtocolError>,
) -> Run {
    let mut buffer = BytesMut::new();
    let mut events = Vec::new();
    let pieces = pieces(input, cuts);
    for (eof, piece) in pieces
        .iter()
        .map(|p| (false, *p))
        .chain(std::iter::once((true, &[][..])))
    {
        buffer.extend_from_slice(piece);
        loop {
            match step(&mut buffer, eof) {
                Ok(Some(seen)) => push(&mut events, seen),
                Ok(None) if eof => {
                    return Run {
                        events,
                        error: None,
                    };
                }
                Ok(None) => break,
                Err(e) => {
                    return Run {
                        events,
                        error: Some(normalize(e)),
                    };
                }
            }
        }
    }
    Run {
        events,
        error: None,
    }
}

/// An environ whose vars point into one segment (any sizes, no copying).
pub fn environ_from_pairs(pairs: &[(Vec<u8>, Vec<u8>)]) -> Environ {
    let mut wire = Vec::new();
    let mut ranges = Vec::new();
    for (key, value) in pairs {
        let key_start = wire.len();
        wire.extend_from_slice(key);
        let value_start = wire.len();
        wire.extend_from_slice(value);
        ranges.push((key_start..value_start, value_start..wire.len()));
    }
    let mut env = Environ::new();
    let segment = env.add_segment(Bytes::from(wire)).unwrap();
    for (key, value) in ranges {
        env.push_segment_var(segment, key, value).unwrap();
    }
    env
}
