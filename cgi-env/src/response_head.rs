//! The one response head a backend sends: a CGI head (RFC 3875 §6, what php-fpm and
//! php-cgi write at the start of their output) or an HTTP/1.x head with a status line (what
//! uWSGI writes over uwsgi). Both gateway sides parse it here, under the same rules; the
//! application side writes it with [`write_response_head`]. The rules are on
//! [`ResponseHeadParser`].

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use http::{HeaderMap, StatusCode, Version};

use crate::error::ResponseHeadError;
use crate::grammar::{find_newline, invalid_field_value_byte, is_token, parse_decimal};
use crate::headers::HOP_BY_HOP;

/// Bounds on a response head.
///
/// ```
/// use cgi_env::ResponseHeadLimits;
///
/// let limits = ResponseHeadLimits::default().with_max_bytes(4096);
/// assert_eq!((limits.max_bytes(), limits.max_headers()), (4096, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeadLimits {
    max_bytes: usize,
    max_headers: usize,
}

impl Default for ResponseHeadLimits {
    fn default() -> Self {
        ResponseHeadLimits {
            max_bytes: 8192,
            max_headers: 100,
        }
    }
}

impl ResponseHeadLimits {
    /// The most bytes the head may take, blank line included. Default 8192, nginx's
    /// `fastcgi_buffer_size` and `uwsgi_buffer_size` on systems with 8 KiB pages.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The most header fields (the status line not counted). Default 100.
    pub fn max_headers(&self) -> usize {
        self.max_headers
    }

    /// Sets [`ResponseHeadLimits::max_bytes`].
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`ResponseHeadLimits::max_headers`].
    #[must_use]
    pub fn with_max_headers(mut self, max_headers: usize) -> Self {
        self.max_headers = max_headers;
        self
    }
}

/// The response kinds of RFC 3875 §6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseKind {
    /// A document: no Location.
    Document,
    /// A CGI head with `Location: /abs-path` and nothing else: the gateway may serve that
    /// path itself instead (nginx does not; it answers 302). Only act on it deliberately.
    LocalRedirect,
    /// Location with no Content-Type: the gateway sends the redirect (302 unless the
    /// status says otherwise).
    ClientRedirect,
    /// Location with Content-Type (and usually a status): a redirect with a body.
    ClientRedirectWithDocument,
}

/// The final transfer coding a backend declared for the body that follows its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferCoding {
    /// `chunked` last: the body is chunked (only meaningful over uwsgi, where the body is
    /// not framed by the protocol).
    Chunked,
    /// Another coding last: the body ends with the connection (RFC 9112 §6.3).
    Other,
}

/// A parsed response head; see the [rules](ResponseHeadParser#rules).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status: from the status line, else the `Status` field, else 302 with
    /// Location, else 200.
    pub status: StatusCode,
    /// The reason phrase the status line or `Status` field gave, if not empty.
    pub reason: Option<Bytes>,
    /// The status line's HTTP version; `None` for a CGI head.
    pub version: Option<Version>,
    /// The end-to-end fields, in order (no `Status`, no hop-by-hop field). Content-Type
    /// is never added when absent.
    pub headers: HeaderMap,
    /// The RFC 3875 §6.2 response kind.
    pub kind: ResponseKind,
    /// Where the body starts: the length of the head, blank line included.
    pub body_offset: usize,
    /// The backend's Content-Length, when it sent one (all its values agree).
    pub content_length: Option<u64>,
    /// The final coding of the backend's Transfer-Encoding, when it sent one (the field
    /// itself is hop-by-hop and dropped).
    pub transfer_coding: Option<TransferCoding>,
}

impl ResponseHead {
    /// Checks the backend's Content-Length, if it sent one, against the body it sent.
    ///
    /// # Errors
    /// [`ResponseHeadError::ContentLengthMismatch`] when they differ.
    pub fn check_body_len(&self, body_len: u64) -> Result<(), ResponseHeadError> {
        match self.content_length {
            Some(declared) if declared != body_len => {
                Err(ResponseHeadError::ContentLengthMismatch {
                    declared,
                    actual: body_len,
                })
            }
            _ => Ok(()),
        }
    }
}

/// An incremental response-head parser: `Ok(None)` until the blank line has arrived, then
/// the head. It remembers how far it has looked for the blank line, so each byte is
/// scanned once, and the result does not depend on how the input was split.
///
/// Two ways in, one set of rules: [`ResponseHeadParser::decode`] splits the head off a
/// receive buffer (as a tokio `Decoder` does), [`ResponseHeadParser::parse`] reads the
/// response so far from a [`Bytes`] and leaves it alone.
///
/// # Rules
///
/// The backend is untrusted. A head is the bytes up to the first empty line; lines end
/// in CRLF or a bare LF.
///
/// - **Shape.** A head whose first line starts with `HTTP/` has a status line
///   (`HTTP/1.0` or `HTTP/1.1`, a space, three digits, then nothing or a space and a
///   reason phrase). Any other head is a CGI head: its status is the `Status` field
///   (`NNN` or `NNN reason`), else 302 when there is a `Location`, else 200. A CGI head
///   with no CGI field at all is a 200 document, as nginx takes it.
/// - **Refused** ([`ResponseHeadError`]): a head over [`ResponseHeadLimits::max_bytes`]
///   or with more than [`ResponseHeadLimits::max_headers`] fields; a status outside
///   100–999 or not three digits (`Status: 000`, `HTTP/1.1 20`), an HTTP version other
///   than 1.0 and 1.1; a line that starts with a space or tab (obs-fold); a line with no
///   colon; a name that is not an RFC 9110 token (a space before the colon included); a
///   value holding NUL, CR, LF, DEL or another control byte but tab; `Status`,
///   `Content-Type` or `Location` more than once; `Content-Length` values that are not one
///   decimal number (repeats must agree).
/// - **Merged.** Repeated fields stay separate entries of the [`HeaderMap`], in order;
///   only `Content-Length` is merged, into [`ResponseHead::content_length`].
/// - **Dropped.** `Status` itself (also from a status-line head, where the status line
///   decides). The hop-by-hop fields ([`HOP_BY_HOP`](crate::HOP_BY_HOP)) and every field
///   the backend's `Connection` names: they concern the connection to the backend, and
///   the HTTP layer in front frames its own. What framing needs of them is kept as
///   [`ResponseHead::transfer_coding`].
/// - **Local redirect.** A CGI head holding only `Location: /abs-path` is reported as
///   [`ResponseKind::LocalRedirect`] (status 302): a gateway may serve that path itself
///   instead (nginx does not); every other `Location` is a client redirect.
/// - **Zero-copy.** Header values and the reason phrase are [`Bytes`] slices of the
///   input; names are `http`'s (standard names cost nothing, others are lowercased
///   copies).
///
/// # Example
/// ```
/// use bytes::BytesMut;
/// use cgi_env::{ResponseHeadParser, ResponseKind};
///
/// // php-fpm's STDOUT, arriving in two reads:
/// let mut parser = ResponseHeadParser::default();
/// let mut buf = BytesMut::from(&b"Status: 404 Not Found\nContent-Ty"[..]);
/// assert_eq!(parser.decode(&mut buf)?, None);
/// buf.extend_from_slice(b"pe: text/plain\n\nno such page");
/// let head = parser.decode(&mut buf)?.expect("complete");
/// assert_eq!(head.status, http::StatusCode::NOT_FOUND);
/// assert_eq!(head.kind, ResponseKind::Document);
/// assert_eq!(&buf[..], b"no such page");
///
/// // uWSGI's answer over uwsgi: the same parser, the same rules.
/// let mut buf = BytesMut::from(&b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n"[..]);
/// let head = ResponseHeadParser::default().decode(&mut buf)?.expect("complete");
/// assert_eq!((head.status, head.version), (http::StatusCode::NOT_FOUND, Some(http::Version::HTTP_11)));
/// # Ok::<(), cgi_env::ResponseHeadError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseHeadParser {
    limits: ResponseHeadLimits,
    /// Start of the first line not yet known to be complete.
    line_start: usize,
}

impl ResponseHeadParser {
    /// A parser with these limits.
    pub fn new(limits: ResponseHeadLimits) -> Self {
        ResponseHeadParser {
            limits,
            line_start: 0,
        }
    }

    /// Parses the front of `src`, the receive buffer. When the head is complete it is
    /// split off `src` (which then starts with the body) and returned; `Ok(None)` asks for
    /// more bytes appended to the same buffer.
    ///
    /// # Errors
    /// A [`ResponseHeadError`] for a head over the limits or breaking a rule of the
    /// [rules](ResponseHeadParser#rules).
    pub fn decode(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<ResponseHead>, ResponseHeadError> {
        let Some(head_len) = self.scan(src)? else {
            return Ok(None);
        };
        let head = src.split_to(head_len).freeze();
        parse_complete(&head, &self.limits).map(Some)
    }

    /// Parses `buf`, the response so far, without consuming it; the head's
    /// [`ResponseHead::body_offset`] says where the body starts. Pass the same buffer,
    /// grown, on each call.
    ///
    /// # Errors
    /// As [`ResponseHeadParser::decode`].
    pub fn parse(&mut self, buf: &Bytes) -> Result<Option<ResponseHead>, ResponseHeadError> {
        let Some(head_len) = self.scan(buf)? else {
            return Ok(None);
        };
        parse_complete(&buf.slice(..head_len), &self.limits).map(Some)
    }

    /// Forgets the scanning progress, to parse a new response.
    pub fn reset(&mut self) {
        self.line_start = 0;
    }

    /// The length of the head, blank line included, once the blank line is in `buf`.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ResponseHeadError> {
        if self.line_start > buf.len() {
            self.line_start = 0;
        }
        let too_large = ResponseHeadError::TooLarge {
            limit: self.limits.max_bytes,
        };
        loop {
            let rest = buf.get(self.line_start..).unwrap_or_default();
            let Some(newline) = find_newline(rest) else {
                if buf.len() > self.limits.max_bytes {
                    return Err(too_large);
                }
                return Ok(None);
            };
            let line_end = self.line_start + newline + 1;
            if line_end > self.limits.max_bytes {
                return Err(too_large);
            }
            let blank = matches!(rest.get(..newline), Some(b"" | b"\r"));
            self.line_start = line_end;
            if blank {
                self.line_start = 0;
                return Ok(Some(line_end));
            }
        }
    }
}

/// Parses a response head in one call; see [`ResponseHeadParser::parse`].
///
/// # Errors
/// As [`ResponseHeadParser::decode`].
pub fn parse_response_head(
    buf: &Bytes,
    limits: ResponseHeadLimits,
) -> Result<Option<ResponseHead>, ResponseHeadError> {
    ResponseHeadParser::new(limits).parse(buf)
}

/// What the fields of a head said, before the defaults are applied.
#[derive(Default)]
struct Fields {
    status: Option<(StatusCode, Option<Bytes>)>,
    content_type: bool,
    location: Option<usize>,
    content_length: Option<u64>,
    transfer_coding: Option<TransferCoding>,
    connection_named: Vec<HeaderName>,
    count: usize,
}

impl Fields {
    /// Takes in one field line; returns the field when it belongs in the header map.
    fn take(
        &mut self,
        head: &Bytes,
        line: &[u8],
        line_offset: usize,
        has_status_line: bool,
    ) -> Result<Option<(HeaderName, HeaderValue)>, ResponseHeadError> {
        let (name, value) = split_line(line, line_offset)?;
        let value_bytes = head.get(value.clone()).unwrap_or_default();
        if name.eq_ignore_ascii_case(b"status") {
            if !has_status_line {
                self.take_status(head, value, line_offset)?;
            }
            return Ok(None);
        }
        let name = HeaderName::from_bytes(name).map_err(|_| ResponseHeadError::InvalidName {
            offset: line_offset,
        })?;
        if name == CONTENT_TYPE {
            if self.content_type {
                return Err(ResponseHeadError::DuplicateField {
                    field: "Content-Type",
                });
            }
            self.content_type = true;
        } else if name == LOCATION {
            if self.location.is_some() {
                return Err(ResponseHeadError::DuplicateField { field: "Location" });
            }
            self.location = Some(value.start);
        } else if name == CONTENT_LENGTH {
            self.content_length = Some(merge_content_length(
                self.content_length,
                value_bytes,
                line_offset,
            )?);
        } else if HOP_BY_HOP.contains(&name.as_str()) {
            self.take_hop_by_hop(&name, value_bytes);
            return Ok(None);
        }
        // split_line checked the bytes, so this takes the slice as it is.
        let value = HeaderValue::from_maybe_shared(head.slice(value.clone())).map_err(|_| {
            ResponseHeadError::InvalidValue {
                byte: 0,
                offset: value.start,
            }
        })?;
        Ok(Some((name, value)))
    }

    fn take_status(
        &mut self,
        head: &Bytes,
        value: std::ops::Range<usize>,
        line_offset: usize,
    ) -> Result<(), ResponseHeadError> {
        if self.status.is_some() {
            return Err(ResponseHeadError::DuplicateField { field: "Status" });
        }
        let value_bytes = head.get(value.clone()).unwrap_or_default();
        let (code, reason) = parse_status(value_bytes).ok_or(ResponseHeadError::InvalidStatus {
            offset: line_offset,
        })?;
        let reason = reason.map(|r| head.slice(value.start + r.start..value.start + r.end));
        self.status = Some((code, reason));
        Ok(())
    }

    fn take_hop_by_hop(&mut self, name: &HeaderName, value: &[u8]) {
        if name == CONNECTION {
            self.connection_named.extend(
                value
                    .split(|&b| b == b',')
                    .filter_map(|token| HeaderName::from_bytes(token.trim_ascii()).ok()),
            );
        } else if name.as_str() == "transfer-encoding" {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            self.transfer_coding = Some(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                TransferCoding::Chunked
            } else {
                TransferCoding::Other
            });
        }
    }

    /// The response kind, from the fields and whether there was a status line.
    fn kind(&self, head: &Bytes, has_status_line: bool) -> ResponseKind {
        let Some(location) = self.location else {
            return ResponseKind::Document;
        };
        let location = head.get(location..).unwrap_or_default();
        let local_path = location.first() == Some(&b'/') && location.get(1) != Some(&b'/');
        if !has_status_line && self.status.is_none() && self.count == 1 && local_path {
            ResponseKind::LocalRedirect
        } else if self.content_type {
            ResponseKind::ClientRedirectWithDocument
        } else {
            ResponseKind::ClientRedirect
        }
    }
}

/// Parses `head`, known to end with its blank line.
fn parse_complete(
    head: &Bytes,
    limits: &ResponseHeadLimits,
) -> Result<ResponseHead, ResponseHeadError> {
    let mut headers = HeaderMap::new();
    let mut fields = Fields::default();
    let mut status_line: Option<(Version, StatusCode, Option<Bytes>)> = None;
    let mut offset = 0usize;
    while let Some(rest) = head.get(offset..).filter(|rest| !rest.is_empty()) {
        let line_len = find_newline(rest).map_or(rest.len(), |at| at + 1);
        let raw_line = rest.get(..line_len).unwrap_or(rest);
        let line_offset = offset;
        offset += raw_line.len();
        let line = raw_line.strip_suffix(b"\n").unwrap_or(raw_line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line_offset == 0 && line.starts_with(b"HTTP/") {
            status_line = Some(parse_status_line(head, line)?);
            continue;
        }
        fields.count += 1;
        if fields.count > limits.max_headers {
            return Err(ResponseHeadError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        if let Some((name, value)) = fields.take(head, line, line_offset, status_line.is_some())? {
            headers.append(name, value);
        }
    }
    for name in fields.connection_named.drain(..) {
        headers.remove(name);
    }
    let kind = fields.kind(head, status_line.is_some());
    let (version, status, reason) = if let Some((version, status, reason)) = status_line {
        (Some(version), status, reason)
    } else {
        let (status, reason) = fields.status.take().unwrap_or_else(|| {
            let code = if fields.location.is_some() {
                StatusCode::FOUND
            } else {
                StatusCode::OK
            };
            (code, None)
        });
        (None, status, reason)
    };
    Ok(ResponseHead {
        status,
        reason,
        version,
        headers,
        kind,
        body_offset: head.len(),
        content_length: fields.content_length,
        transfer_coding: fields.transfer_coding,
    })
}

/// `HTTP/1.x NNN[ reason]`, the first line of `head`.
fn parse_status_line(
    head: &Bytes,
    line: &[u8],
) -> Result<(Version, StatusCode, Option<Bytes>), ResponseHeadError> {
    let invalid = ResponseHeadError::InvalidStatus { offset: 0 };
    let version = match line.get(..9) {
        Some(b"HTTP/1.1 ") => Version::HTTP_11,
        Some(b"HTTP/1.0 ") => Version::HTTP_10,
        _ => return Err(invalid),
    };
    let rest = line.get(9..).unwrap_or_default();
    let (status, reason) = parse_status(rest).ok_or(invalid)?;
    if let Some((at, byte)) = invalid_field_value_byte(rest) {
        return Err(ResponseHeadError::InvalidValue {
            byte,
            offset: 9 + at,
        });
    }
    Ok((
        version,
        status,
        reason.map(|r| head.slice(9 + r.start..9 + r.end)),
    ))
}

/// Splits `name: value`, checking the name is a token and the value's bytes, and trimming
/// the value's surrounding whitespace. Returns the value's range in the head.
fn split_line(
    line: &[u8],
    line_offset: usize,
) -> Result<(&[u8], std::ops::Range<usize>), ResponseHeadError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(ResponseHeadError::ObsFold {
            offset: line_offset,
        });
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ResponseHeadError::MissingColon {
            offset: line_offset,
        })?;
    let (name, rest) = line.split_at(colon);
    if !is_token(name) {
        return Err(ResponseHeadError::InvalidName {
            offset: line_offset,
        });
    }
    let rest = rest.get(1..).unwrap_or_default();
    let leading = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let value = rest.get(leading..).unwrap_or_default();
    let trailing = value
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let value = value.get(..value.len() - trailing).unwrap_or_default();
    let start = line_offset + colon + 1 + leading;
    if let Some((at, byte)) = invalid_field_value_byte(value) {
        return Err(ResponseHeadError::InvalidValue {
            byte,
            offset: start + at,
        });
    }
    Ok((name, start..start + value.len()))
}

/// `NNN` or `NNN reason`: the status and where the reason phrase lies in `value`.
fn parse_status(value: &[u8]) -> Option<(StatusCode, Option<std::ops::Range<usize>>)> {
    let code = value.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = StatusCode::from_bytes(code).ok()?;
    let reason = match value.get(3..).unwrap_or_default() {
        [] => None,
        [b' ' | b'\t', reason @ ..] => {
            let start = 4 + (reason.len() - reason.trim_ascii_start().len());
            let end = 4 + reason.trim_ascii_end().len();
            (start < end).then_some(start..end)
        }
        _ => return None,
    };
    Some((status, reason))
}

fn merge_content_length(
    current: Option<u64>,
    value: &[u8],
    offset: usize,
) -> Result<u64, ResponseHeadError> {
    let invalid = ResponseHeadError::InvalidContentLength { offset };
    let mut merged = current;
    for element in value.split(|&b| b == b',') {
        let parsed = parse_decimal(element.trim_ascii()).ok_or(invalid.clone())?;
        if merged.is_some_and(|m| m != parsed) {
            return Err(invalid);
        }
        merged = Some(parsed);
    }
    merged.ok_or(invalid)
}

/// Writes a CGI response head: `Status: NNN reason`, each header on its own line with
/// CRLF, then the blank line. This is what a FastCGI application puts at the start of
/// STDOUT. Names are written in their canonical capitalisation (`Content-Type`).
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", HeaderValue::from_static("text/plain"));
/// let mut out = Vec::new();
/// cgi_env::write_response_head(StatusCode::NOT_FOUND, &headers, &mut out);
/// assert_eq!(out, b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n");
/// assert_eq!(out.len(), cgi_env::response_head_len(StatusCode::NOT_FOUND, &headers));
/// ```
pub fn write_response_head(status: StatusCode, headers: &HeaderMap, out: &mut impl BufMut) {
    out.put_slice(b"Status: ");
    out.put_slice(status.as_str().as_bytes());
    if let Some(reason) = status.canonical_reason() {
        out.put_u8(b' ');
        out.put_slice(reason.as_bytes());
    }
    out.put_slice(b"\r\n");
    for (name, value) in headers {
        if name.as_str() == "status" {
            continue;
        }
        put_canonical_name(name.as_str(), out);
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// The exact number of bytes [`write_response_head`] writes.
pub fn response_head_len(status: StatusCode, headers: &HeaderMap) -> usize {
    let status_line =
        b"Status: ".len() + 3 + status.canonical_reason().map_or(0, |r| r.len() + 1) + 2;
    let fields: usize = headers
        .iter()
        .filter(|(name, _)| name.as_str() != "status")
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    status_line + fields + 2
}

fn put_canonical_name(name: &str, out: &mut impl BufMut) {
    let mut word_start = true;
    for byte in name.bytes() {
        out.put_u8(if word_start {
            byte.to_ascii_uppercase()
        } else {
            byte
        });
        word_start = byte == b'-';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<ResponseHead, ResponseHeadError> {
        parse_with(input, ResponseHeadLimits::default())
    }

    fn parse_with(
        input: &[u8],
        limits: ResponseHeadLimits,
    ) -> Result<ResponseHead, ResponseHeadError> {
        match parse_response_head(&Bytes::copy_from_slice(input), limits)? {
            Some(head) => Ok(head),
            None => panic!("partial: {:?}", input.escape_ascii().to_string()),
        }
    }

    fn small(max_bytes: usize, max_headers: usize) -> ResponseHeadLimits {
        ResponseHeadLimits::default()
            .with_max_bytes(max_bytes)
            .with_max_headers(max_headers)
    }

    #[test]
    fn php_fpm_heads_from_the_captures() {
        let head =
            parse(b"Content-type: text/html; charset=UTF-8\r\n\r\nHello from php-fpm\n").unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.kind, ResponseKind::Document);
        assert_eq!(head.headers["content-type"], "text/html; charset=UTF-8");
        assert_eq!(head.body_offset, 42);

        let input = b"Status: 404 Not Found\r\nX-Custom-One: alpha\r\nX-Multi: a\r\nX-Multi: b\r\nSet-Cookie: c1=v1\r\nContent-Type: text/plain\r\n\r\n";
        let head = parse(input).unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.reason.as_deref(), Some(&b"Not Found"[..]));
        assert_eq!(head.version, None);
        assert_eq!(head.headers.get_all("x-multi").iter().count(), 2);
        assert!(!head.headers.contains_key("status"));
        assert_eq!(head.body_offset, input.len());
    }

    #[test]
    fn bare_lf_and_crlf_both_end_lines() {
        let crlf = parse(b"Content-Type: a/b\r\nX-A: 1\r\n\r\n").unwrap();
        let lf = parse(b"Content-Type: a/b\nX-A: 1\n\n").unwrap();
        let mixed = parse(b"Content-Type: a/b\r\nX-A: 1\n\r\n").unwrap();
        assert_eq!(crlf.headers, lf.headers);
        assert_eq!(crlf.headers, mixed.headers);
        assert_eq!(lf.body_offset, 26);
    }

    #[test]
    fn partial_until_blank_line() {
        let mut parser = ResponseHeadParser::default();
        let input = Bytes::from_static(b"Content-Type: a/b\r\n\r\nbody");
        for end in 0..21 {
            assert_eq!(parser.parse(&input.slice(..end)).unwrap(), None, "{end}");
        }
        assert!(
            matches!(parser.parse(&input.slice(..21)).unwrap(), Some(h) if h.body_offset == 21)
        );
        let mut parser = ResponseHeadParser::default();
        let mut buf = BytesMut::new();
        for &byte in &input[..20] {
            buf.put_u8(byte);
            assert_eq!(parser.decode(&mut buf).unwrap(), None);
        }
        buf.extend_from_slice(&input[20..]);
        let head = parser.decode(&mut buf).unwrap().unwrap();
        assert_eq!((head.body_offset, &buf[..]), (21, &b"body"[..]));
    }

    #[test]
    fn status_defaults_and_forms() {
        assert_eq!(
            parse(b"Location: http://x/\n\n").unwrap().status,
            StatusCode::FOUND
        );
        assert_eq!(
            parse(b"Status: 201\nContent-Type: a/b\n\n").unwrap().status,
            StatusCode::CREATED
        );
        let head = parse(b"Status: 299 Custom Thing \n\n").unwrap();
        assert_eq!(
            (head.status.as_u16(), head.reason.as_deref()),
            (299, Some(&b"Custom Thing"[..]))
        );
        for bad in [
            &b"Status: 20\n\n"[..],
            b"Status: 2000\n\n",
            b"Status: abc\n\n",
            b"Status: 099\n\n",
            b"Status: 000\n\n",
            b"Status: 20x\n\n",
            b"Status: 200OK\n\n",
            b"Status:\n\n",
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(ResponseHeadError::InvalidStatus { offset: 0 })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn response_kinds() {
        assert_eq!(
            parse(b"Location: /other?q\n\n").unwrap().kind,
            ResponseKind::LocalRedirect
        );
        assert_eq!(
            parse(b"Location: //evil/x\n\n").unwrap().kind,
            ResponseKind::ClientRedirect
        );
        assert_eq!(
            parse(b"Location: https://x/\n\n").unwrap().kind,
            ResponseKind::ClientRedirect
        );
        assert_eq!(
            parse(b"Location: /x\nX-A: 1\n\n").unwrap().kind,
            ResponseKind::ClientRedirect
        );
        let with_doc =
            parse(b"Status: 301 Moved\nLocation: https://x/\nContent-Type: text/html\n\n").unwrap();
        assert_eq!(with_doc.kind, ResponseKind::ClientRedirectWithDocument);
        assert_eq!(with_doc.status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            parse(b"Status: 204\n\n").unwrap().kind,
            ResponseKind::Document
        );
    }

    #[test]
    fn content_type_is_never_defaulted() {
        let head = parse(b"Status: 304\n\n").unwrap();
        assert!(!head.headers.contains_key("content-type"));
        // No CGI field at all: a 200 document, as nginx takes it.
        let head = parse(b"X-Only: 1\n\nbody").unwrap();
        assert_eq!((head.status, head.headers.len()), (StatusCode::OK, 1));
        let head = parse(b"\r\nbody").unwrap();
        assert_eq!((head.status, head.body_offset), (StatusCode::OK, 2));
    }

    #[test]
    fn cgi_fields_at_most_once() {
        for (input, field) in [
            (&b"Status: 200\nStatus: 200\n\n"[..], "Status"),
            (b"Content-Type: a/b\ncontent-type: a/b\n\n", "Content-Type"),
            (b"Location: /a\nLOCATION: /b\n\n", "Location"),
        ] {
            assert_eq!(
                parse(input),
                Err(ResponseHeadError::DuplicateField { field })
            );
        }
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(
            parse(b"Content-Type: a/b\n folded\n\n"),
            Err(ResponseHeadError::ObsFold { offset: 18 })
        );
        assert_eq!(
            parse(b"Content-Type: a/b\nnocolon\n\n"),
            Err(ResponseHeadError::MissingColon { offset: 18 })
        );
        assert_eq!(
            parse(b"Content-Type : a/b\n\n"),
            Err(ResponseHeadError::InvalidName { offset: 0 })
        );
        assert_eq!(
            parse(b": a/b\n\n"),
            Err(ResponseHeadError::InvalidName { offset: 0 })
        );
        assert_eq!(
            parse(b"X(y): 1\n\n"),
            Err(ResponseHeadError::InvalidName { offset: 0 })
        );
        assert_eq!(
            parse(b"Content-Type: a\rb\n\n"),
            Err(ResponseHeadError::InvalidValue {
                byte: b'\r',
                offset: 15
            })
        );
        assert_eq!(
            parse(b"Content-Type: a\0b\n\n"),
            Err(ResponseHeadError::InvalidValue {
                byte: 0,
                offset: 15
            })
        );
        // obs-text (bytes >= 0x80) is legal in values.
        assert_eq!(
            parse(b"Content-Type: a/b\nX-A: \xe9\n\n").unwrap().headers["x-a"].as_bytes(),
            b"\xe9"
        );
    }

    #[test]
    fn limits() {
        let limits = small(32, 2);
        let bytes = |b: &[u8]| Bytes::copy_from_slice(b);
        assert_eq!(
            parse_response_head(&bytes(&[b'x'; 33]), limits),
            Err(ResponseHeadError::TooLarge { limit: 32 })
        );
        assert_eq!(parse_response_head(&bytes(&[b'x'; 32]), limits), Ok(None));
        assert_eq!(
            parse_with(b"Content-Type: text/plain\nX-Aa: 1\n\n", limits),
            Err(ResponseHeadError::TooLarge { limit: 32 })
        );
        assert_eq!(
            parse_with(b"Status: 200\nA: 1\nB: 2\n\n", limits),
            Err(ResponseHeadError::TooManyHeaders { limit: 2 })
        );
        assert!(parse_with(b"Status: 200\nA: 1\n\n", limits).is_ok());
        // The status line is not a field.
        assert!(parse_with(b"HTTP/1.1 200 OK\nA: 1\nB: 2\n\n", limits).is_ok());
    }

    #[test]
    fn hop_by_hop_is_dropped_and_framing_kept() {
        let head = parse(
            b"Content-Type: a/b\nTransfer-Encoding: chunked\nConnection: close, X-Private\nKeep-Alive: 5\nX-Private: 1\nContent-Length: 3\n\n",
        )
        .unwrap();
        let names: Vec<&str> = head.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "content-length"]);
        assert_eq!(head.transfer_coding, Some(TransferCoding::Chunked));
        let head = parse(b"Content-Type: a/b\nTransfer-Encoding: chunked, gzip\n\n").unwrap();
        assert_eq!(head.transfer_coding, Some(TransferCoding::Other));
        let head = parse(
            b"Content-Type: a/b\nConnection: close, X-Private\nX-Private: 1\nContent-Length: 3\n\n",
        )
        .unwrap();
        assert_eq!(head.content_length, Some(3));
        assert!(head.check_body_len(3).is_ok());
        assert_eq!(
            head.check_body_len(4),
            Err(ResponseHeadError::ContentLengthMismatch {
                declared: 3,
                actual: 4
            })
        );
        assert_eq!(head.headers.len(), 2);
    }

    #[test]
    fn content_length_must_be_one_number() {
        assert_eq!(
            parse(b"Content-Type: a/b\nContent-Length: 3, 3\n\n")
                .unwrap()
                .content_length,
            Some(3)
        );
        for bad in [
            &b"Content-Length: x\n"[..],
            b"Content-Length: 3\nContent-Length: 4\n",
            b"Content-Length: \n",
            b"Content-Length: -1\n",
        ] {
            let mut input = b"Content-Type: a/b\n".to_vec();
            input.extend_from_slice(bad);
            input.push(b'\n');
            assert!(
                matches!(
                    parse(&input),
                    Err(ResponseHeadError::InvalidContentLength { offset: 18.. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn write_then_parse() {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.append("www-authenticate", HeaderValue::from_static("Basic"));
        let mut out = Vec::new();
        write_response_head(StatusCode::UNAUTHORIZED, &headers, &mut out);
        assert!(out.starts_with(
            b"Status: 401 Unauthorized\r\nContent-Type: application/json\r\nX-Multi: a\r\n"
        ));
        assert_eq!(
            out.len(),
            response_head_len(StatusCode::UNAUTHORIZED, &headers)
        );
        let head = parse(&out).unwrap();
        assert_eq!(
            (head.status, head.headers),
            (StatusCode::UNAUTHORIZED, headers)
        );
        assert_eq!(head.body_offset, out.len());
    }

    #[test]
    fn status_line_heads() {
        let input = b"HTTP/1.1 201 Created\r\nContent-Type: a/b\r\nStatus: 500\r\n\r\nbody";
        let head = parse(input).unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.version, Some(Version::HTTP_11));
        assert_eq!(head.reason.as_deref(), Some(&b"Created"[..]));
        // Status is dropped: the status line decides.
        assert!(!head.headers.contains_key("status"));
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.body_offset, input.len() - 4);
        let head = parse(b"HTTP/1.0 204\n\n").unwrap();
        assert_eq!(
            (head.status, head.version, head.reason),
            (StatusCode::NO_CONTENT, Some(Version::HTTP_10), None)
        );
        assert_eq!(
            parse(b"HTTP/1.1 302 Found\nLocation: /x\n\n").unwrap().kind,
            ResponseKind::ClientRedirect
        );
        for bad in [
            &b"HTTP/1.1 000 Zero\n\n"[..],
            b"HTTP/1.1 20 OK\n\n",
            b"HTTP/2.0 200 OK\n\n",
            b"HTTP/1.1  200 OK\n\n",
            b"HTTP/1.1 200OK\n\n",
            b"HTTP/1.1\n\n",
        ] {
            assert_eq!(
                parse(bad),
                Err(ResponseHeadError::InvalidStatus { offset: 0 }),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse(b"HTTP/1.1 200 O\x01K\n\n"),
            Err(ResponseHeadError::InvalidValue {
                byte: 1,
                offset: 14
            })
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\nContent-Type: a\nContent-Type: b\n\n"),
            Err(ResponseHeadError::DuplicateField {
                field: "Content-Type"
            })
        );
        // A status line later in the head is just a bad field line.
        assert_eq!(
            parse(b"Content-Type: a/b\nHTTP/1.1 200 OK\n\n"),
            Err(ResponseHeadError::MissingColon { offset: 18 })
        );
    }

    #[test]
    fn values_are_slices_of_the_input() {
        let input =
            Bytes::from_static(b"HTTP/1.1 200 OK\r\nX-Long: abcdefghijklmnopqrstuvwxyz\r\n\r\n");
        let head = parse_response_head(&input, ResponseHeadLimits::default())
            .unwrap()
            .unwrap();
        let value = head.headers["x-long"].as_bytes();
        let range = input.as_ptr_range();
        assert!(range.contains(&value.as_ptr()), "value was copied");
        assert!(
            range.contains(&head.reason.unwrap().as_ptr()),
            "reason was copied"
        );
    }
}
