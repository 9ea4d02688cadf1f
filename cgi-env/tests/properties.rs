//! Property tests: gateway → wire size → application gives back the same request; the
//! response-head parser never panics and does not care how its input is split; an
//! environ's encoded sizes, kept as it changes, always equal a count over its variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use cgi_env::{
    CgiRequest, ConnectionInfo, EncodedSlash, Environ, Gateway, Preset, ResponseHeadLimits,
    ResponseHeadParser, ScriptMapping, parse_response_head, write_response_head,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;

/// FastCGI name-value pairs, as a PARAMS record body holds them.
fn encode_fastcgi(env: &Environ) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 128 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
        }
    }
    let mut out = Vec::new();
    for (name, value) in env {
        length(name.len(), &mut out);
        length(value.len(), &mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }
    out
}

/// Decodes FastCGI name-value pairs into an environ that points into the buffer.
fn decode_fastcgi(wire: &Bytes) -> Environ {
    fn length(wire: &[u8], at: &mut usize) -> usize {
        if wire[*at] < 128 {
            *at += 1;
            usize::from(wire[*at - 1])
        } else {
            let bytes: [u8; 4] = wire[*at..*at + 4].try_into().unwrap();
            *at += 4;
            (u32::from_be_bytes(bytes) & 0x7fff_ffff) as usize
        }
    }
    let mut env = Environ::new();
    let segment = env.add_segment(wire.clone()).unwrap();
    let mut at = 0;
    while at < wire.len() {
        let name_len = length(wire, &mut at);
        let value_len = length(wire, &mut at);
        let name = at..at + name_len;
        let value = name.end..name.end + value_len;
        at = value.end;
        env.push_segment_var(segment, name, value).unwrap();
    }
    env
}

/// A uwsgi vars block.
fn encode_uwsgi(env: &Environ) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in env {
        out.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

#[derive(Debug, Clone)]
struct Generated {
    method: &'static str,
    path: String,
    query: Option<String>,
    headers: BTreeMap<String, String>,
    content_type: Option<String>,
    remote: SocketAddr,
}

fn segment() -> impl Strategy<Value = String> {
    // Plain characters and percent-encoded bytes (but never NUL, CR, LF or '/'), and no
    // '.'-only segments, so the path is already normalised.
    let piece = prop_oneof![
        "[A-Za-z0-9_~!$&'()*+,;=:@-]{1,6}",
        (0x20u8..=0xff)
            .prop_filter("not '/' or '.'", |b| *b != b'/' && *b != b'.')
            .prop_map(|b| format!("%{b:02X}")),
    ];
    prop::collection::vec(piece, 1..4)
        .prop_map(|pieces| pieces.concat())
        .prop_filter("dot segment", |s| s != "." && s != "..")
}

fn generated() -> impl Strategy<Value = Generated> {
    let header_name = "[a-z][a-z0-9-]{0,12}".prop_filter("reserved header", |n| {
        !matches!(
            n.as_str(),
            "proxy" | "host" | "content-type" | "content-length"
        )
    });
    let header_value = "[!-~]([ -~]{0,20}[!-~])?";
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        prop::collection::vec(segment(), 0..5),
        any::<bool>(),
        prop::option::of("[A-Za-z0-9=&%+._-]{0,20}"),
        prop::collection::btree_map(header_name, header_value, 0..8),
        prop::option::of("[a-z]{1,8}/[a-z]{1,8}"),
        any::<(u8, u16)>(),
    )
        .prop_map(
            |(method, segments, trailing_slash, query, headers, content_type, (host, port))| {
                let mut path = format!("/{}", segments.join("/"));
                if trailing_slash && !segments.is_empty() {
                    path.push('/');
                }
                Generated {
                    method,
                    path,
                    query,
                    headers,
                    content_type,
                    remote: SocketAddr::from(([10, 0, 0, host], port)),
                }
            },
        )
}

fn request(generated: &Generated) -> http::request::Parts {
    let target = match &generated.query {
        Some(query) => format!("{}?{query}", generated.path),
        None => generated.path.clone(),
    };
    let mut builder = http::Request::builder()
        .method(generated.method)
        .uri(target)
        .header("host", "example.org:8080");
    for (name, value) in &generated.headers {
        builder = builder.header(name, value);
    }
    if let Some(content_type) = &generated.content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(()).unwrap().into_parts().0
}

fn check_round_trip(gateway: &Gateway, generated: &Generated) -> Result<(), TestCaseError> {
    let parts = request(generated);
    let conn = ConnectionInfo::new(
        generated.remote,
        "10.0.0.1:8080".parse().unwrap(),
        "example.org",
    );
    let env = gateway.build(&parts, &conn).unwrap();

    let fastcgi = encode_fastcgi(&env);
    prop_assert_eq!(fastcgi.len(), env.fastcgi_encoded_len());
    prop_assert_eq!(encode_uwsgi(&env).len(), env.uwsgi_encoded_len());
    let decoded = decode_fastcgi(&Bytes::from(fastcgi));
    prop_assert_eq!(&decoded, &env);

    let rebuilt = CgiRequest::from_environ(&decoded).unwrap();
    prop_assert_eq!(&rebuilt.parts.method, &parts.method);
    prop_assert_eq!(rebuilt.parts.version, parts.version);
    prop_assert_eq!(
        rebuilt
            .parts
            .uri
            .authority()
            .map(http::uri::Authority::as_str),
        Some("example.org:8080")
    );
    prop_assert_eq!(
        rebuilt.parts.uri.query().filter(|q| !q.is_empty()),
        parts.uri.query().filter(|q| !q.is_empty())
    );
    // The path comes back either verbatim (REQUEST_URI) or re-encoded from SCRIPT_NAME and
    // PATH_INFO; either way it decodes to the same bytes.
    let decode = |path: &str| cgi_env::decode_path(path, EncodedSlash::Decode).unwrap();
    prop_assert_eq!(decode(rebuilt.parts.uri.path()), decode(parts.uri.path()));
    prop_assert_eq!(&rebuilt.parts.headers, &parts.headers);
    prop_assert_eq!(rebuilt.remote_addr, Some(generated.remote.ip()));
    // RFC 3875 has no REMOTE_PORT; nginx sends it.
    let port_sent = gateway
        .preset()
        .params()
        .iter()
        .any(|p| p.name == "REMOTE_PORT");
    prop_assert_eq!(
        rebuilt.remote_port,
        Some(generated.remote.port()).filter(|_| port_sent)
    );
    Ok(())
}

/// A change to an environ: the sizes it keeps must follow every one.
#[derive(Debug, Clone)]
enum EnvironChange {
    Append(u8, usize),
    Insert(u8, usize),
    Remove(u8),
    /// A variable pointing into the one wire segment (name and value ranges).
    FromSegment(usize, usize, usize),
    /// Several at once ([`Environ::extend_segment_vars`]), some possibly out of bounds.
    FromSegmentBatch(Vec<(usize, usize, usize)>),
    Clear,
}

fn environ_change() -> impl Strategy<Value = EnvironChange> {
    // Few names, so that inserts replace and removes hit; lengths around 128, where a
    // FastCGI length takes 4 bytes.
    let name = 0u8..4;
    let len = prop_oneof![0usize..3, 120usize..140, 0usize..400];
    prop_oneof![
        4 => (name.clone(), len.clone()).prop_map(|(n, l)| EnvironChange::Append(n, l)),
        4 => (name.clone(), len).prop_map(|(n, l)| EnvironChange::Insert(n, l)),
        2 => name.prop_map(EnvironChange::Remove),
        2 => (0usize..600, prop_oneof![Just(0usize), 0usize..300], 0usize..300)
            .prop_map(|(at, n, v)| EnvironChange::FromSegment(at, n, v)),
        1 => prop::collection::vec((0usize..1000, 0usize..150, 0usize..150), 0..6)
            .prop_map(EnvironChange::FromSegmentBatch),
        1 => Just(EnvironChange::Clear),
    ]
}

/// The sizes counted over the variables, as an encoder would.
fn counted_sizes(env: &Environ) -> (usize, usize, usize) {
    let fastcgi_length = |len: usize| if len < 128 { 1 } else { 4 };
    env.iter()
        .fold((0, 0, 0), |(content, fastcgi, uwsgi), (n, v)| {
            (
                content + n.len() + v.len(),
                fastcgi + fastcgi_length(n.len()) + fastcgi_length(v.len()) + n.len() + v.len(),
                uwsgi + 4 + n.len() + v.len(),
            )
        })
}

proptest! {
    #[test]
    fn environ_sizes_follow_every_change(
        changes in prop::collection::vec(environ_change(), 0..40),
    ) {
        let wire = Bytes::from((0..1200u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let mut env = Environ::new();
        let mut segment = None;
        for change in changes {
            let name = |n: u8| format!("NAME_{n}");
            match change {
                EnvironChange::Append(n, len) => env.append(name(n), vec![b'v'; len]),
                EnvironChange::Insert(n, len) => env.insert(name(n), vec![b'v'; len]),
                EnvironChange::Remove(n) => drop(env.remove(name(n))),
                EnvironChange::FromSegment(at, n, v) => {
                    let id = match segment {
                        Some(id) => id,
                        None => *segment.insert(env.add_segment(wire.clone()).unwrap()),
                    };
                    env.push_segment_var(id, at..at + n, at + n..at + n + v).unwrap();
                }
                EnvironChange::FromSegmentBatch(vars) => {
                    let id = match segment {
                        Some(id) => id,
                        None => *segment.insert(env.add_segment(wire.clone()).unwrap()),
                    };
                    let before: Vec<(Vec<u8>, Vec<u8>)> =
                        env.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
                    let ranges = vars.iter().map(|&(at, n, v)| (at..at + n, at + n..at + n + v));
                    let fits = vars.iter().all(|&(at, n, v)| at + n + v <= wire.len());
                    let added = env.extend_segment_vars(id, ranges.clone());
                    prop_assert_eq!(added.is_ok(), fits);
                    let mut expected = before;
                    if fits {
                        expected.extend(ranges.map(|(n, v)| (wire[n].to_vec(), wire[v].to_vec())));
                    }
                    let now: Vec<(Vec<u8>, Vec<u8>)> =
                        env.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
                    prop_assert_eq!(now, expected, "all of the batch or none of it");
                }
                EnvironChange::Clear => {
                    env.clear();
                    segment = None;
                }
            }
            let (content, fastcgi, uwsgi) = counted_sizes(&env);
            prop_assert_eq!(env.content_len(), content);
            prop_assert_eq!(env.fastcgi_encoded_len(), fastcgi);
            prop_assert_eq!(env.uwsgi_encoded_len(), uwsgi);
            prop_assert_eq!(env.has_empty_name(), env.iter().any(|(n, _)| n.is_empty()));
            // Counted afresh, the sizes agree too (a clone keeps whatever was kept).
            let copied: Environ = env.iter().collect();
            prop_assert_eq!(copied.fastcgi_encoded_len(), fastcgi);
            prop_assert_eq!(env.clone().uwsgi_encoded_len(), uwsgi);
        }
    }
}

proptest! {
    #[test]
    fn nginx_preset_round_trips(generated in generated()) {
        let gateway = Gateway::new(Preset::nginx_fastcgi_conf()).with_document_root("/srv");
        check_round_trip(&gateway, &generated)?;
    }

    #[test]
    fn rfc3875_preset_round_trips_without_request_uri(generated in generated()) {
        // No REQUEST_URI: the path is rebuilt from SCRIPT_NAME and PATH_INFO.
        let gateway = Gateway::new(Preset::rfc3875()).with_mapping(ScriptMapping::Mount("/".into()));
        let rfc_headers: Generated = Generated {
            headers: generated
                .headers
                .iter()
                .filter(|(name, _)| !cgi_env::HOP_BY_HOP.contains(&name.as_str()) && name.as_str() != "authorization")
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
            ..generated
        };
        check_round_trip(&gateway, &rfc_headers)?;
    }

    #[test]
    fn response_head_never_panics(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let input = Bytes::from(input);
        let _ = parse_response_head(&input, ResponseHeadLimits::default());
        let _ = parse_response_head(&input, ResponseHeadLimits::default().with_max_bytes(64).with_max_headers(3));
    }

    #[test]
    fn response_head_split_invariant_on_any_bytes(
        input in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b':'), Just(b'\r')], 0..256),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        check_split_invariance(&input, &cuts)?;
    }

    #[test]
    fn response_head_split_invariant_on_heads(
        head in head_text(),
        body in prop::collection::vec(any::<u8>(), 0..32),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut input = head.into_bytes();
        input.extend_from_slice(&body);
        check_split_invariance(&input, &cuts)?;
    }

    #[test]
    fn written_heads_parse_back(
        code in 100u16..1000,
        headers in prop::collection::vec(("[a-z][a-z0-9-]{0,10}", "[!-~]([ -~\u{80}-\u{ff}]{0,16}[!-~])?"), 0..8),
    ) {
        let status = StatusCode::from_u16(code).unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            if matches!(name.as_str(), "status" | "content-length" | "content-type" | "location") {
                continue;
            }
            let value: Vec<u8> = value.chars().map(|c| c as u8).collect();
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_bytes(&value).unwrap());
        }
        let mut out = Vec::new();
        write_response_head(status, &map, &mut out);
        prop_assert_eq!(out.len(), cgi_env::response_head_len(status, &map));
        let Ok(Some(head)) = parse_response_head(&Bytes::from(out.clone()), ResponseHeadLimits::default()) else {
            return Err(TestCaseError::fail(format!("{:?}", out.escape_ascii().to_string())));
        };
        prop_assert_eq!(head.status, status);
        // Hop-by-hop fields are the HTTP layer's: the parser drops them.
        let mut end_to_end = map.clone();
        for name in cgi_env::HOP_BY_HOP {
            end_to_end.remove(name);
        }
        prop_assert_eq!(head.headers, end_to_end);
        prop_assert_eq!(head.body_offset, out.len());
    }
}

/// Plausible heads: CGI and other fields, sometimes malformed, with CRLF or LF.
fn head_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("Status: 404 Not Found".to_owned()),
        Just("Content-Type: text/html".to_owned()),
        Just("Location: /x".to_owned()),
        Just("Content-Length: 3".to_owned()),
        Just("Connection: close".to_owned()),
        Just(" folded".to_owned()),
        "[A-Za-z-]{1,8}: [ -~]{0,12}",
    ];
    let status_line = prop_oneof![
        Just(""),
        Just("HTTP/1.1 200 OK\r\n"),
        Just("HTTP/1.0 404\n"),
        Just("HTTP/1.1 000 Bad\r\n"),
    ];
    (
        status_line,
        prop::collection::vec((line, any::<bool>()), 0..6),
        any::<bool>(),
    )
        .prop_map(|(status_line, lines, crlf_end)| {
            let mut text = status_line.to_owned();
            for (line, crlf) in lines {
                text.push_str(&line);
                text.push_str(if crlf { "\r\n" } else { "\n" });
            }
            text.push_str(if crlf_end { "\r\n" } else { "\n" });
            text
        })
}

/// Feeds `input` grown chunk by chunk (cut at `cuts`), and byte by byte, and checks the
/// first non-partial result equals the one-shot result.
fn check_split_invariance(input: &[u8], cuts: &[prop::sample::Index]) -> Result<(), TestCaseError> {
    let limits = ResponseHeadLimits::default()
        .with_max_bytes(128)
        .with_max_headers(4);
    let input = Bytes::copy_from_slice(input);
    let whole = parse_response_head(&input, limits);
    let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort_unstable();
    for ends in [ends, (0..=input.len()).collect::<Vec<_>>()] {
        // The response so far, re-offered as it grows.
        let mut parser = ResponseHeadParser::new(limits);
        let mut result = Ok(None);
        for &end in &ends {
            result = parser.parse(&input.slice(..end));
            if result != Ok(None) {
                break;
            }
        }
        prop_assert_eq!(&result, &whole);
        // A receive buffer the pieces are appended to; the head is split off it.
        let mut parser = ResponseHeadParser::new(limits);
        let mut buf = BytesMut::new();
        let mut result = Ok(None);
        let mut fed = 0;
        for &end in &ends {
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
            result = parser.decode(&mut buf);
            if result != Ok(None) {
                break;
            }
        }
        prop_assert_eq!(&result, &whole);
        if let Ok(Some(head)) = &result {
            buf.extend_from_slice(&input[fed..]);
            prop_assert_eq!(&buf[..], &input[head.body_offset..]);
        }
    }
    Ok(())
}
