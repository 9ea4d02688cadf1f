//! The tokio-util codecs over an in-memory duplex stream: a whole exchange through
//! `Framed` on both sides, the end of the response signalled by closing the stream.
#![cfg(feature = "tokio")]

use bytes::Bytes;
use cgi_env::Environ;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Framed;
use uwsgi_codec::{
    ApplicationCodec, CodecError, GatewayCodec, Limits, Modifier1, Ping, Pong, ProtocolError,
    RequestEvent, RequestPart, ResponseEvent, ResponsePart, Violation,
};

async fn application(stream: tokio::io::DuplexStream) -> Result<(Environ, Vec<u8>), CodecError> {
    let mut framed = Framed::new(stream, ApplicationCodec::default());
    let mut environ = None;
    let mut body = Vec::new();
    while let Some(event) = framed.next().await {
        match event? {
            RequestEvent::Head(head) => environ = Some(head.environ),
            RequestEvent::Body(chunk) => body.extend_from_slice(&chunk),
            RequestEvent::End => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let reply = Bytes::from(format!("got {} bytes", body.len()));
    framed
        .send(ResponsePart::Head {
            status: StatusCode::ACCEPTED,
            headers: vec![(
                Bytes::from_static(b"Content-Type"),
                Bytes::from_static(b"text/plain"),
            )],
        })
        .await?;
    framed.send(ResponsePart::Body(reply)).await?;
    framed.send(ResponsePart::End).await?;
    Ok((environ.expect("a request"), body))
    // `framed` is dropped here: the connection closes, which ends the response.
}

#[tokio::test]
async fn exchange_through_framed() {
    let (gateway_side, application_side) = tokio::io::duplex(1024);
    let server = tokio::spawn(application(application_side));

    let body = Bytes::from(vec![7u8; 10_000]);
    let env: Environ = [
        ("REQUEST_METHOD", "PUT"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("CONTENT_LENGTH", "10000"),
    ]
    .into_iter()
    .collect();
    let mut framed = Framed::new(
        gateway_side,
        GatewayCodec::new(Modifier1::WSGI, 0, Limits::default()),
    );
    framed.send(RequestPart::Head(env.clone())).await.unwrap();
    for chunk in body.chunks(3000) {
        framed
            .send(RequestPart::Body(Bytes::copy_from_slice(chunk)))
            .await
            .unwrap();
    }
    framed.send(RequestPart::End).await.unwrap();

    let mut events = Vec::new();
    while let Some(event) = framed.next().await {
        events.push(event.unwrap());
    }
    let (seen_env, seen_body) = server.await.unwrap().unwrap();
    assert_eq!(seen_env, env);
    assert_eq!(seen_body, body);

    let [ResponseEvent::Head(head), middle @ .., ResponseEvent::End] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(head.status, StatusCode::ACCEPTED);
    assert_eq!(head.version, Some(http::Version::HTTP_11));
    assert_eq!(head.reason.as_deref(), Some(&b"Accepted"[..]));
    let text: Vec<u8> = middle
        .iter()
        .flat_map(|e| match e {
            ResponseEvent::Body(b) => b.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(text, b"got 10000 bytes");
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let (gateway_side, application_side) = tokio::io::duplex(64);
    let server = tokio::spawn(async move {
        let mut framed = Framed::new(application_side, ApplicationCodec::default());
        let event = framed.next().await.unwrap().unwrap();
        assert_eq!(event, RequestEvent::Ping);
        framed
            .send(ResponsePart::Packet(Pong::default().to_packet().unwrap()))
            .await
            .unwrap();
    });
    let mut gateway_side = gateway_side;
    gateway_side
        .write_all(&Ping.to_packet().to_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    gateway_side.read_to_end(&mut answer).await.unwrap();
    server.await.unwrap();
    assert_eq!(answer, [100, 0, 0, 1]);
}

#[tokio::test]
async fn response_cut_short_is_an_error_at_close() {
    let (gateway_side, mut application_side) = tokio::io::duplex(256);
    let writer = tokio::spawn(async move {
        application_side
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
            .await
            .unwrap();
    });
    let mut framed = Framed::new(gateway_side, GatewayCodec::default());
    assert!(matches!(
        framed.next().await,
        Some(Ok(ResponseEvent::Head(_)))
    ));
    assert!(matches!(
        framed.next().await,
        Some(Ok(ResponseEvent::Body(_)))
    ));
    writer.await.unwrap();
    assert!(matches!(
        framed.next().await,
        Some(Err(CodecError::Protocol(ProtocolError {
            offset: 44,
            violation: Violation::TruncatedBody {
                expected: 10,
                received: 5,
            }
        })))
    ));
}
