//! Known-answer tests: the real nginx ↔ php-fpm and nginx ↔ uWSGI (FastCGI socket) captures
//! in `testdata/captures`, decoded with the record decoder and both connection state
//! machines and compared with the `decoded.txt` listing next to them.

use bytes::BytesMut;
use cgi_env::Environ;
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, GatewayConfig, GatewayConnection,
    GatewayEvent, ProtocolStatus, RecordDecoder, RecordType, Role,
};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/captures");

/// One record as `decoded.txt` lists it.
#[derive(Debug, Default, Clone)]
struct Listed {
    offset: usize,
    record_type: String,
    id: u16,
    clen: usize,
    plen: usize,
    extra: String,
    params: Vec<(Vec<u8>, Vec<u8>)>,
    /// The content shown, and whether it was cut short with `...`.
    content: Option<(Vec<u8>, bool)>,
}

/// One direction of one connection.
#[derive(Debug, Clone)]
struct Section {
    file: String,
    records: Vec<Listed>,
}

/// Unescapes a Python `repr` of str or bytes starting at a quote; returns the bytes and
/// what follows the closing quote.
fn python_literal(text: &str) -> (Vec<u8>, &str) {
    let quote = text.as_bytes()[0];
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 1;
    while bytes[i] != quote {
        if bytes[i] == b'\\' {
            let escaped = bytes[i + 1];
            i += 2;
            match escaped {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i..i + 2]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => out.push(other),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    (out, &text[i + 1..])
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// Reads the FastCGI sections of a `decoded.txt`.
fn listing(folder: &str, prefix: &str, file_prefix: &str) -> Vec<Section> {
    let text = std::fs::read_to_string(format!("{CAPTURES}/{folder}/decoded.txt")).unwrap();
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Option<Section> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            if let Some(section) = current.take() {
                sections.push(section);
            }
            let mut words = line.trim_start_matches('#').split_whitespace();
            let conn = words.next().unwrap();
            let direction = words.next().unwrap();
            if (direction == "c2s" || direction == "s2c") && conn.starts_with(prefix) {
                current = Some(Section {
                    file: format!("{CAPTURES}/{folder}/{file_prefix}{conn}-{direction}.bin"),
                    records: Vec::new(),
                });
            }
            continue;
        }
        let Some(section) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('@') {
            let mut words = rest.split_whitespace();
            let offset = words.next().unwrap().parse().unwrap();
            assert_eq!(words.next(), Some("v1"));
            let record_type = words.next().unwrap().to_string();
            section.records.push(Listed {
                offset,
                record_type,
                id: field(line, "id=").parse().unwrap(),
                clen: field(line, "clen=").parse().unwrap(),
                plen: field(line, "plen=").parse().unwrap(),
                extra: line.split("plen=").nth(1).unwrap().to_string(),
                ..Listed::default()
            });
        } else if trimmed.starts_with("b'") || trimmed.starts_with("b\"") {
            let (content, rest) = python_literal(&trimmed[1..]);
            let record = section.records.last_mut().unwrap();
            record.content = Some((content, rest == "..."));
        } else if !trimmed.is_empty() && line.starts_with("   ") && trimmed.contains(" = ") {
            let (name, value) = trimmed.split_once(" = ").unwrap();
            let (value, rest) = python_literal(value);
            assert!(rest.is_empty(), "{line}");
            let record = section.records.last_mut().unwrap();
            record.params.push((name.as_bytes().to_vec(), value));
        }
    }
    if let Some(section) = current.take() {
        sections.push(section);
    }
    sections
}

fn type_name(record_type: RecordType) -> String {
    record_type
        .to_string()
        .trim_start_matches("FCGI_")
        .to_string()
}

fn read(file: &str) -> BytesMut {
    BytesMut::from(&std::fs::read(file).unwrap()[..])
}

/// The record layer alone: every header, content and padding as listed.
fn check_records(section: &Section) {
    let mut buf = read(&section.file);
    let total = buf.len();
    let mut decoder = RecordDecoder::new();
    let mut offset = 0;
    let mut listed = section.records.iter();
    while let Some(record) = decoder.decode(&mut buf).unwrap() {
        let expected = listed.next().expect("more records than listed");
        assert_eq!(offset, expected.offset, "{}", section.file);
        assert_eq!(type_name(record.record_type()), expected.record_type);
        assert_eq!(record.request_id().get(), expected.id);
        assert_eq!(record.content.len(), expected.clen);
        assert_eq!(usize::from(record.header.padding_length), expected.plen);
        if let Some((shown, cut)) = &expected.content {
            if *cut {
                assert!(record.content.starts_with(shown), "{}", section.file);
            } else {
                assert_eq!(&record.content[..], &shown[..]);
            }
        }
        if record.record_type() == RecordType::BeginRequest {
            let body = record.begin_request_body().unwrap();
            assert_eq!(body.role, Role::Responder);
            assert!(expected.extra.contains(&format!("flags={}", body.flags)));
        }
        if record.record_type() == RecordType::EndRequest {
            let body = record.end_request_body().unwrap();
            assert!(
                expected
                    .extra
                    .contains(&format!("appStatus={}", body.app_status))
            );
            assert_eq!(body.protocol_status, ProtocolStatus::RequestComplete);
            assert!(expected.extra.contains("REQUEST_COMPLETE"));
        }
        offset += record.header.record_len();
    }
    assert!(listed.next().is_none(), "fewer records than listed");
    assert_eq!(offset, total);
    assert!(buf.is_empty() && decoder.is_at_boundary());
}

fn params_of(env: &Environ) -> Vec<(Vec<u8>, Vec<u8>)> {
    env.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
}

/// Feeds `bytes` in pieces of `step` bytes (0: all at once) to the application side,
/// ending each request once its body ended, as php-fpm does.
fn server_events(bytes: &[u8], step: usize) -> Vec<ApplicationEvent> {
    let mut conn = ApplicationConnection::new(ApplicationConfig::default());
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let step = if step == 0 { bytes.len() } else { step };
    for piece in bytes.chunks(step) {
        buf.extend_from_slice(piece);
        while let Some(event) = conn.receive(&mut buf).unwrap() {
            if let ApplicationEvent::StdinEnd { request_id } = event {
                conn.end_request(request_id, 0).unwrap();
            }
            events.push(event);
        }
    }
    assert!(buf.is_empty());
    events
}

/// Feeds `bytes` to the gateway side, beginning a request (as nginx did) before each
/// answer.
fn client_events(bytes: &[u8], step: usize, keep_conn: bool) -> Vec<GatewayEvent> {
    let mut conn = GatewayConnection::new(GatewayConfig::default());
    conn.begin_request(Role::Responder, keep_conn).unwrap();
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let step = if step == 0 { bytes.len() } else { step };
    for piece in bytes.chunks(step) {
        buf.extend_from_slice(piece);
        while let Some(event) = conn.receive(&mut buf).unwrap() {
            if matches!(event, GatewayEvent::End { .. }) && keep_conn {
                conn.begin_request(Role::Responder, true).unwrap();
            }
            events.push(event);
        }
    }
    assert!(buf.is_empty());
    if !keep_conn {
        conn.receive_eof().unwrap();
    }
    events
}

/// What nginx sent, through the application-side state machine.
fn check_server(section: &Section) {
    let bytes = std::fs::read(&section.file).unwrap();
    let events = server_events(&bytes, 0);
    let mut expected = Vec::new();
    let mut stdin = Vec::new();
    for record in &section.records {
        match record.record_type.as_str() {
            "BEGIN_REQUEST" => expected.push(format!(
                "begin {} keep_conn={}",
                record.id,
                record.extra.contains("KEEP_CONN")
            )),
            "PARAMS" if record.clen > 0 => expected.push(format!("params {:?}", record.params)),
            "STDIN" if record.clen > 0 => {
                expected.push(format!("stdin {} {}", record.id, record.clen));
            }
            "STDIN" => expected.push(format!("stdin end {}", record.id)),
            _ => {}
        }
        if record.record_type == "STDIN" {
            stdin.push(record.content.clone());
        }
    }
    let mut seen = Vec::new();
    let mut got_stdin = Vec::new();
    for event in &events {
        match event {
            ApplicationEvent::RequestBegun {
                request_id,
                role,
                keep_conn,
            } => {
                assert_eq!(*role, Role::Responder);
                seen.push(format!("begin {request_id} keep_conn={keep_conn}"));
            }
            ApplicationEvent::Params { params, .. } => {
                seen.push(format!("params {:?}", params_of(params)));
            }
            ApplicationEvent::Stdin { request_id, chunk } => {
                seen.push(format!("stdin {request_id} {}", chunk.len()));
                got_stdin.push(chunk.clone());
            }
            ApplicationEvent::StdinEnd { request_id } => {
                seen.push(format!("stdin end {request_id}"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, expected, "{}", section.file);
    // Contents shown in the listing are prefixes of what came out.
    let shown: Vec<_> = stdin.into_iter().flatten().collect();
    assert_eq!(shown.len(), got_stdin.len());
    for ((content, _), chunk) in shown.iter().zip(&got_stdin) {
        assert!(chunk.starts_with(content));
    }
    for step in [1, 7, 4096] {
        assert_eq!(
            server_events(&bytes, step),
            events,
            "{} step {step}",
            section.file
        );
    }
}

/// What the application answered, through the gateway-side state machine.
fn check_client(section: &Section, keep_conn: bool) {
    let bytes = std::fs::read(&section.file).unwrap();
    let events = client_events(&bytes, 0, keep_conn);
    let mut expected = Vec::new();
    for record in &section.records {
        match record.record_type.as_str() {
            "STDOUT" | "STDERR" if record.clen > 0 => {
                expected.push(format!(
                    "{} {} {}",
                    record.record_type, record.id, record.clen
                ));
            }
            "END_REQUEST" => expected.push(format!("end {} 0 RequestComplete", record.id)),
            _ => {}
        }
    }
    let mut stdout = Vec::new();
    let seen: Vec<String> = events
        .iter()
        .map(|event| match event {
            GatewayEvent::Stdout { request_id, chunk } => {
                stdout.push(chunk.clone());
                format!("STDOUT {request_id} {}", chunk.len())
            }
            GatewayEvent::Stderr { request_id, chunk } => {
                format!("STDERR {request_id} {}", chunk.len())
            }
            GatewayEvent::End {
                request_id,
                app_status,
                protocol_status,
            } => format!("end {request_id} {app_status} {protocol_status:?}"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(seen, expected, "{}", section.file);
    let shown: Vec<_> = section
        .records
        .iter()
        .filter(|r| r.record_type == "STDOUT" && r.clen > 0)
        .map(|r| r.content.clone())
        .collect();
    for (content, chunk) in shown.iter().zip(&stdout) {
        if let Some((content, cut)) = content {
            if *cut {
                assert!(chunk.starts_with(content));
            } else {
                assert_eq!(&chunk[..], &content[..]);
            }
        }
    }
    for step in [1, 13, 8192] {
        assert_eq!(
            client_events(&bytes, step, keep_conn),
            events,
            "{} step {step}",
            section.file
        );
    }
}

fn check_folder(folder: &str, prefix: &str, file_prefix: &str, connections: usize) {
    let sections = listing(folder, prefix, file_prefix);
    assert_eq!(sections.len(), 2 * connections, "{folder}");
    let mut keep_conn = false;
    for section in &sections {
        assert!(!section.records.is_empty());
        check_records(section);
        if section.file.ends_with("c2s.bin") {
            keep_conn = section.records[0].extra.contains("KEEP_CONN");
            check_server(section);
        } else {
            check_client(section, keep_conn);
        }
    }
}

#[test]
fn nginx_to_php_fpm() {
    check_folder("nginx-fpm", "conn", "nginx-fpm-", 6);
}

#[test]
fn nginx_to_php_fpm_keep_conn() {
    check_folder("nginx-fpm-keepconn", "keep-conn", "", 1);
}

#[test]
fn nginx_to_uwsgi_fastcgi_socket() {
    check_folder("nginx-uwsgi", "nginx-uwsgifcgi", "", 2);
}

#[test]
fn captured_params_reencode_to_bytes_php_fpm_accepts() {
    // Re-encoding nginx's environ gives the same PARAMS record nginx sent: one record of
    // whole pairs, padded to 8, then the empty record.
    let bytes = std::fs::read(format!("{CAPTURES}/nginx-fpm/nginx-fpm-conn1-c2s.bin")).unwrap();
    let events = server_events(&bytes, 0);
    let Some(ApplicationEvent::Params { params, .. }) = events.get(1) else {
        panic!("no params in {events:?}");
    };
    let mut client = GatewayConnection::new(GatewayConfig::default());
    let id = client.begin_request(Role::Responder, false).unwrap();
    client.send_params(id, params).unwrap();
    client.end_stdin(id).unwrap();
    let ours = client.take_output().to_bytes_mut();
    assert_eq!(&ours[..], &bytes[..], "nginx's exact bytes");
}
