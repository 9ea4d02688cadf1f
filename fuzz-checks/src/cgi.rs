//! cgi-env: the CGI response head, and the HTTP request rebuilt from an environ.

use bytes::{Bytes, BytesMut};
use cgi_env::{ResponseHeadError, ResponseHeadLimits, ResponseHeadParser, parse_response_head};

use crate::split::cut_points;

/// The response-head parser never panics, stays within its limits, and gives the same
/// result when the input arrives in pieces, whether the caller re-offers the growing
/// response ([`ResponseHeadParser::parse`]) or appends to a receive buffer the head is split
/// off ([`ResponseHeadParser::decode`]).
pub fn cgi_response_head(data: &[u8]) {
    let limits = ResponseHeadLimits::default()
        .with_max_bytes(1024)
        .with_max_headers(16);
    let input = Bytes::copy_from_slice(data);
    let whole = parse_response_head(&input, limits);
    if let Ok(Some(head)) = &whole {
        assert!(head.body_offset <= data.len().min(limits.max_bytes()));
        assert!(head.headers.len() <= limits.max_headers());
    }
    let cuts: Vec<usize> = cut_points(data).into_iter().chain([data.len()]).collect();
    let mut parser = ResponseHeadParser::new(limits);
    let mut grown: Result<_, ResponseHeadError> = Ok(None);
    for &cut in &cuts {
        grown = parser.parse(&input.slice(..cut));
        if !matches!(grown, Ok(None)) {
            break;
        }
    }
    assert_eq!(
        whole, grown,
        "response head depends on how the input arrived"
    );
    let mut parser = ResponseHeadParser::new(limits);
    let mut buf = BytesMut::new();
    let mut appended: Result<_, ResponseHeadError> = Ok(None);
    let mut fed = 0;
    for &cut in &cuts {
        buf.extend_from_slice(&data[fed..cut]);
        fed = cut;
        appended = parser.decode(&mut buf);
        if !matches!(appended, Ok(None)) {
            break;
        }
    }
    assert_eq!(
        whole, appended,
        "response head depends on how the input arrived"
    );
    if let Ok(Some(head)) = &appended {
        buf.extend_from_slice(&data[fed..]);
        assert_eq!(&buf[..], &data[head.body_offset..], "body lost or moved");
    }
    same_head_on_both_gateway_sides(data);
}

/// The same backend answer gives the same head (or the same error) on the FastCGI
/// gateway side (as STDOUT records, cut where the record size cuts them) and on the uwsgi
/// gateway side (as the raw response).
pub fn same_head_on_both_gateway_sides(data: &[u8]) {
    let fastcgi = fastcgi_head(data);
    let uwsgi = uwsgi_head(data);
    match (&fastcgi, &uwsgi) {
        (Some(Ok(fastcgi)), Some(Ok(uwsgi))) => assert_eq!(fastcgi, uwsgi, "heads differ"),
        (Some(Err(fastcgi)), Some(Err(uwsgi))) => assert_eq!(fastcgi, uwsgi, "errors differ"),
        // A head that never ended: each side reports it in its own terms.
        (None, None) => {}
        _ => panic!("one side parsed, the other did not: FastCGI {fastcgi:?}, uwsgi {uwsgi:?}"),
    }
}

type HeadOutcome = Option<Result<cgi_env::ResponseHead, ResponseHeadError>>;

/// The head our FastCGI gateway side reads from `stdout` sent as a request's STDOUT.
fn fastcgi_head(stdout: &[u8]) -> HeadOutcome {
    use fastcgi_codec::{
        EndRequestBody, GatewayConfig, GatewayConnection, GatewayEvent, Padding, ProtocolStatus,
        RecordEncoder, RecordType, ResponseReader, Role,
    };
    let mut gateway = GatewayConnection::new(GatewayConfig::default());
    let id = gateway.begin_request(Role::Responder, false).ok()?;
    let encoder = RecordEncoder::new(Padding::Align8);
    let mut wire = BytesMut::new();
    // Records of at most 100 bytes, so that heads also arrive split over records.
    for piece in stdout.chunks(100) {
        encoder.stream_into(RecordType::Stdout, id, piece, false, &mut wire);
    }
    let end = EndRequestBody {
        app_status: 0,
        protocol_status: ProtocolStatus::RequestComplete,
    };
    encoder
        .record_into(RecordType::EndRequest, id, &end.to_bytes(), &mut wire)
        .ok()?;
    let mut reader = ResponseReader::default();
    while let Ok(Some(event)) = gateway.receive(&mut wire) {
        match event {
            GatewayEvent::Stdout { chunk, .. } => match reader.read(chunk) {
                Ok(read) => {
                    if let Some(head) = read.head {
                        return Some(Ok(head));
                    }
                }
                Err(error) => return Some(Err(error)),
            },
            GatewayEvent::End { .. } => break,
            _ => {}
        }
    }
    None
}

/// The head our uwsgi gateway side reads from `response`, the whole answer.
fn uwsgi_head(response: &[u8]) -> HeadOutcome {
    use uwsgi_codec::{Limits, ResponseDecoder, ResponseEvent, Violation};
    let mut decoder = ResponseDecoder::new(Limits::default());
    let mut wire = BytesMut::from(response);
    match decoder.decode_eof(&mut wire) {
        Ok(Some(ResponseEvent::Head(head))) => Some(Ok(head)),
        Err(error) => match error.violation {
            Violation::Head(error) => Some(Err(error)),
            _ => None,
        },
        _ => None,
    }
}

/// The application side's environ → HTTP request conversion never panics on any vars
/// block, and what it accepts is consistent with the environ it came from.
pub fn environ_to_request(data: &[u8]) {
    let Ok(env) = uwsgi_codec::wire::decode_vars(bytes::Bytes::copy_from_slice(data), usize::MAX)
    else {
        return;
    };
    let Ok(request) = cgi_env::CgiRequest::from_environ(&env) else {
        return;
    };
    assert_eq!(
        Some(request.parts.method.as_str().as_bytes()),
        env.get("REQUEST_METHOD")
    );
    if let Some(len) = request.content_length {
        let declared = env
            .get("CONTENT_LENGTH")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert_eq!(
            Some(len),
            declared,
            "content length not from CONTENT_LENGTH"
        );
    }
    let _ = cgi_env::wsgi_url_scheme(&env, cgi_env::ProxyTrust::Untrusted);
    let _ = cgi_env::check_pep3333(&env);
}
