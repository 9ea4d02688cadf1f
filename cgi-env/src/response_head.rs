//! The CGI response head (RFC 3875 §6): the header block that starts a CGI program's output
//! and FastCGI STDOUT. Parsing treats the backend as untrusted; writing is what an
//! application sends.

use bytes::BufMut;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use http::{HeaderMap, StatusCode};

use crate::error::ResponseHeadError;
use crate::grammar::{is_tchar, parse_decimal};
use crate::headers::HOP_BY_HOP;

/// Bounds on a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeadLimits {
    /// The most bytes the head may take, blank line included. Default 8192, nginx's
    /// `fastcgi_buffer_size` on systems with 8 KiB pages (4 KiB pages give 4096).
    pub max_bytes: usize,
    /// The most header lines. Default 100.
    pub max_headers: usize,
}

impl Default for ResponseHeadLimits {
    fn default() -> Self {
        ResponseHeadLimits {
            max_bytes: 8192,
            max_headers: 100,
        }
    }
}

/// The response kinds of RFC 3875 §6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// A document: no Location. Status defaults to 200.
    Document,
    /// `Location: /abs-path` and nothing else: the gateway may serve that path itself
    /// instead (nginx does not; it answers 302). Only act on it deliberately.
    LocalRedirect,
    /// Location with no Content-Type: the gateway sends the redirect (302 unless Status
    /// says otherwise).
    ClientRedirect,
    /// Location with Content-Type (and usually a Status): a redirect with a body.
    ClientRedirectWithDocument,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status: the `Status` field, else 302 with Location, else 200.
    pub status: StatusCode,
    /// The reason phrase the `Status` field gave, if any.
    pub reason: Option<Vec<u8>>,
    /// Every header but `Status`, in order. Content-Type is never added when absent.
    pub headers: HeaderMap,
    /// The RFC 3875 §6.2 response kind.
    pub kind: ResponseKind,
    /// Where the body starts in the parsed buffer.
    pub body_offset: usize,
    /// The backend's Content-Length, when it sent one (all its values agree).
    pub content_length: Option<u64>,
    /// Hop-by-hop and framing headers the backend sent ([`HOP_BY_HOP`] and any header the
    /// backend's `Connection` field names). They concern the client connection, which is
    /// the HTTP layer's to frame: drop them ([`ResponseHead::strip_hop_by_hop`]) or
    /// validate them.
    pub hop_by_hop: Vec<HeaderName>,
}

impl ResponseHead {
    /// Removes the [`ResponseHead::hop_by_hop`] headers.
    pub fn strip_hop_by_hop(&mut self) {
        for name in self.hop_by_hop.drain(..) {
            self.headers.remove(name);
        }
    }

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

/// The outcome of parsing a buffer that may not hold the whole head yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// No blank line yet: feed more bytes.
    Partial,
    /// The head, complete.
    Complete(ResponseHead),
}

/// An incremental response-head parser, httparse style: the caller keeps the bytes in one
/// growing buffer and calls [`ResponseHeadParser::parse`] with all of it after each read.
/// The parser remembers how far it has looked for the blank line, so each byte is scanned
/// once. The result does not depend on how the input was split.
///
/// # Example
/// ```
/// use cgi_env::{Parsed, ResponseHeadParser, ResponseKind};
///
/// let output = b"Status: 404 Not Found\nContent-Type: text/plain\n\nno such page";
/// let mut parser = ResponseHeadParser::default();
/// assert_eq!(parser.parse(&output[..20])?, Parsed::Partial);
/// let Parsed::Complete(head) = parser.parse(output)? else { panic!("complete") };
/// assert_eq!(head.status, http::StatusCode::NOT_FOUND);
/// assert_eq!(head.kind, ResponseKind::Document);
/// assert_eq!(&output[head.body_offset..], b"no such page");
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

    /// Parses `buf`, the response so far. Pass the same buffer, grown, on each call.
    ///
    /// # Errors
    /// A [`ResponseHeadError`] for a head over the limits or breaking a rule of RFC 3875
    /// §6 or of HTTP header syntax.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ResponseHeadError> {
        if self.line_start > buf.len() {
            self.line_start = 0;
        }
        loop {
            let rest = buf.get(self.line_start..).unwrap_or_default();
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                if buf.len() > self.limits.max_bytes {
                    return Err(ResponseHeadError::TooLarge {
                        limit: self.limits.max_bytes,
                    });
                }
                return Ok(Parsed::Partial);
            };
            let line_end = self.line_start + newline + 1;
            if line_end > self.limits.max_bytes {
                return Err(ResponseHeadError::TooLarge {
                    limit: self.limits.max_bytes,
                });
            }
            let blank = matches!(rest.get(..newline), Some(b"" | b"\r"));
            self.line_start = line_end;
            if blank {
                self.line_start = 0;
                let head = buf.get(..line_end).unwrap_or_default();
                return parse_complete(head, &self.limits).map(Parsed::Complete);
            }
        }
    }

    /// Forgets the scanning progress, to parse a new response.
    pub fn reset(&mut self) {
        self.line_start = 0;
    }
}

/// Parses a response head in one call; see [`ResponseHeadParser`].
///
/// # Errors
/// As [`ResponseHeadParser::parse`].
pub fn parse_response_head(
    buf: &[u8],
    limits: ResponseHeadLimits,
) -> Result<Parsed, ResponseHeadError> {
    ResponseHeadParser::new(limits).parse(buf)
}

/// Parses a head known to end with its blank line.
fn parse_complete(
    head: &[u8],
    limits: &ResponseHeadLimits,
) -> Result<ResponseHead, ResponseHeadError> {
    let mut headers = HeaderMap::new();
    let mut status: Option<(StatusCode, Option<Vec<u8>>)> = None;
    let mut has_content_type = false;
    let mut has_location = false;
    let mut content_length: Option<u64> = None;
    let mut lines = 0usize;
    let mut offset = 0usize;
    for raw_line in head.split_inclusive(|&b| b == b'\n') {
        let line_offset = offset;
        offset += raw_line.len();
        let line = raw_line.strip_suffix(b"\n").unwrap_or(raw_line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        lines += 1;
        if lines > limits.max_headers {
            return Err(ResponseHeadError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        let (name, value, value_offset) = split_line(line, line_offset)?;
        if let Some((byte, at)) = value
            .iter()
            .enumerate()
            .find(|&(_, &b)| (b < 0x20 && b != b'\t') || b == 0x7f)
            .map(|(at, &b)| (b, at))
        {
            return Err(ResponseHeadError::InvalidValue {
                byte,
                offset: value_offset + at,
            });
        }
        if name.eq_ignore_ascii_case(b"status") {
            if status.is_some() {
                return Err(ResponseHeadError::DuplicateField { field: "Status" });
            }
            status = Some(parse_status(value).ok_or(ResponseHeadError::InvalidStatus {
                offset: line_offset,
            })?);
            continue;
        }
        let name = HeaderName::from_bytes(name).map_err(|_| ResponseHeadError::InvalidName {
            offset: line_offset,
        })?;
        if name == CONTENT_TYPE {
            if has_content_type {
                return Err(ResponseHeadError::DuplicateField {
                    field: "Content-Type",
                });
            }
            has_content_type = true;
        } else if name == LOCATION {
            if has_location {
                return Err(ResponseHeadError::DuplicateField { field: "Location" });
            }
            has_location = true;
        } else if name == CONTENT_LENGTH {
            content_length = Some(merge_content_length(content_length, value)?);
        }
        let value =
            HeaderValue::from_bytes(value).map_err(|_| ResponseHeadError::InvalidValue {
                byte: 0,
                offset: value_offset,
            })?;
        headers.append(name, value);
    }
    if status.is_none() && !has_content_type && !has_location {
        return Err(ResponseHeadError::NoCgiField);
    }
    let kind = match headers.get(LOCATION) {
        None => ResponseKind::Document,
        Some(location)
            if status.is_none() && headers.len() == 1 && is_local_path(location.as_bytes()) =>
        {
            ResponseKind::LocalRedirect
        }
        Some(_) if has_content_type => ResponseKind::ClientRedirectWithDocument,
        Some(_) => ResponseKind::ClientRedirect,
    };
    let (status, reason) = status.unwrap_or_else(|| {
        let code = if has_location {
            StatusCode::FOUND
        } else {
            StatusCode::OK
        };
        (code, None)
    });
    let hop_by_hop = hop_by_hop_names(&headers);
    Ok(ResponseHead {
        status,
        reason,
        headers,
        kind,
        body_offset: head.len(),
        content_length,
        hop_by_hop,
    })
}

/// Splits `name: value`, checking the name is a token and trimming the value's
/// surrounding whitespace. Returns the value's offset in the head.
fn split_line(line: &[u8], line_offset: usize) -> Result<(&[u8], &[u8], usize), ResponseHeadError> {
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
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
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
    Ok((name, value, line_offset + colon + 1 + leading))
}

/// `NNN` or `NNN reason`.
fn parse_status(value: &[u8]) -> Option<(StatusCode, Option<Vec<u8>>)> {
    let code = value.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = StatusCode::from_bytes(code).ok()?;
    let reason = match value.get(3..).unwrap_or_default() {
        [] => None,
        [b' ' | b'\t', reason @ ..] => {
            Some(reason.trim_ascii_start().to_vec()).filter(|r| !r.is_empty())
        }
        _ => return None,
    };
    Some((status, reason))
}

fn merge_content_length(current: Option<u64>, value: &[u8]) -> Result<u64, ResponseHeadError> {
    let mut merged = current;
    for element in value.split(|&b| b == b',') {
        let parsed =
            parse_decimal(element.trim_ascii()).ok_or(ResponseHeadError::InvalidContentLength)?;
        if merged.is_some_and(|m| m != parsed) {
            return Err(ResponseHeadError::InvalidContentLength);
        }
        merged = Some(parsed);
    }
    merged.ok_or(ResponseHeadError::InvalidContentLength)
}

/// An abs-path (`/x`, not the network-path `//host/x`) for a local redirect.
fn is_local_path(location: &[u8]) -> bool {
    location.first() == Some(&b'/') && location.get(1) != Some(&b'/')
}

fn hop_by_hop_names(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = HOP_BY_HOP
        .iter()
        .filter(|name| headers.contains_key(**name))
        .map(|name| HeaderName::from_static(name))
        .collect();
    for value in headers.get_all(CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            if let Ok(name) = HeaderName::from_bytes(token.trim_ascii()) {
                if headers.contains_key(&name) && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
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
        match parse_response_head(input, ResponseHeadLimits::default())? {
            Parsed::Complete(head) => Ok(head),
            Parsed::Partial => panic!("partial: {:?}", input.escape_ascii().to_string()),
        }
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
        let input = b"Content-Type: a/b\r\n\r\nbody";
        for end in 0..21 {
            assert_eq!(
                parser.parse(&input[..end]).unwrap(),
                Parsed::Partial,
                "{end}"
            );
        }
        assert!(
            matches!(parser.parse(&input[..21]).unwrap(), Parsed::Complete(h) if h.body_offset == 21)
        );
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
        assert_eq!(
            parse(b"X-Only: 1\n\nbody"),
            Err(ResponseHeadError::NoCgiField)
        );
        assert_eq!(parse(b"\r\nbody"), Err(ResponseHeadError::NoCgiField));
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
        let limits = ResponseHeadLimits {
            max_bytes: 32,
            max_headers: 2,
        };
        assert_eq!(
            parse_response_head(&[b'x'; 33], limits),
            Err(ResponseHeadError::TooLarge { limit: 32 })
        );
        assert_eq!(
            parse_response_head(&[b'x'; 32], limits),
            Ok(Parsed::Partial)
        );
        assert_eq!(
            parse_response_head(b"Content-Type: text/plain\nX-Aa: 1\n\n", limits),
            Err(ResponseHeadError::TooLarge { limit: 32 })
        );
        assert_eq!(
            parse_response_head(b"Status: 200\nA: 1\nB: 2\n\n", limits),
            Err(ResponseHeadError::TooManyHeaders { limit: 2 })
        );
        assert!(matches!(
            parse_response_head(b"Status: 200\nA: 1\n\n", limits),
            Ok(Parsed::Complete(_))
        ));
    }

    #[test]
    fn framing_and_hop_by_hop_are_reported() {
        let mut head = parse(
            b"Content-Type: a/b\nTransfer-Encoding: chunked\nConnection: close, X-Private\nKeep-Alive: 5\nX-Private: 1\nContent-Length: 3\n\n",
        )
        .unwrap();
        let names: Vec<&str> = head.hop_by_hop.iter().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            ["connection", "keep-alive", "transfer-encoding", "x-private"]
        );
        assert_eq!(head.content_length, Some(3));
        assert!(head.check_body_len(3).is_ok());
        assert_eq!(
            head.check_body_len(4),
            Err(ResponseHeadError::ContentLengthMismatch {
                declared: 3,
                actual: 4
            })
        );
        head.strip_hop_by_hop();
        assert_eq!(head.headers.len(), 2);
        assert!(head.hop_by_hop.is_empty());
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
            assert_eq!(
                parse(&input),
                Err(ResponseHeadError::InvalidContentLength),
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
}
