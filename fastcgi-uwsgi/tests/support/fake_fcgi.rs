//! A FastCGI backend that answers with hand-made records, to play what a real application
//! may do and `serve` never does (STDERR in pieces, a close in the middle of a body).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// FCGI_STDOUT.
pub const STDOUT: u8 = 6;
/// FCGI_STDERR.
pub const STDERR: u8 = 7;

/// One record of `kind` for `request_id` carrying `content` (at most 65535 bytes).
pub fn record(kind: u8, request_id: u16, content: &[u8]) -> Vec<u8> {
    let length = u16::try_from(content.len()).expect("one record's content");
    let mut bytes = vec![1, kind];
    bytes.extend_from_slice(&request_id.to_be_bytes());
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(content);
    bytes
}

/// END_REQUEST with app status 0, request complete.
pub fn end_request(request_id: u16) -> Vec<u8> {
    record(3, request_id, &[0, 0, 0, 0, 0, 0, 0, 0])
}

/// Reads one request up to its empty STDIN record; returns its id.
pub async fn read_request(stream: &mut TcpStream) -> u16 {
    let mut request_id = 0;
    loop {
        let mut header = [0; 8];
        stream.read_exact(&mut header).await.expect("record header");
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let mut content = vec![0; length + usize::from(header[6])];
        stream
            .read_exact(&mut content)
            .await
            .expect("record content");
        match header[1] {
            1 => request_id = u16::from_be_bytes([header[2], header[3]]),
            5 if length == 0 => return request_id,
            _ => {}
        }
    }
}

/// Listens on loopback; returns the listener and its address.
pub async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

/// Writes `bytes` and flushes them out as one piece.
pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
    stream.flush().await.expect("flush");
}

/// A php-fpm-like backend with `workers` workers: each takes one connection off the listen
/// queue and serves it (GET_VALUES answered with FCGI_MPXS_CONNS 0, every request answered
/// `conn=N`, N counting connections from 1 in the order they were taken) until the client
/// closes it; connections beyond the workers wait in the listen queue. Returns its address.
pub async fn workers(workers: usize) -> String {
    let (listener, address) = listen().await;
    let listener = std::sync::Arc::new(listener);
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..workers {
        let (listener, taken) = (listener.clone(), taken.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let conn = taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                serve_kept(&mut stream, conn).await;
            }
        });
    }
    address
}

/// Serves one kept connection as [`workers`] does, until it closes.
async fn serve_kept(stream: &mut TcpStream, conn: usize) {
    let mut request_id = 0;
    loop {
        let mut header = [0; 8];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let mut content = vec![0; length + usize::from(header[6])];
        if stream.read_exact(&mut content).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        match header[1] {
            1 => request_id = u16::from_be_bytes([header[2], header[3]]),
            // GET_VALUES: FCGI_MPXS_CONNS is 0.
            9 => {
                let mut pair = vec![15, 1];
                pair.extend_from_slice(b"FCGI_MPXS_CONNS0");
                answer = record(10, 0, &pair);
            }
            5 if length == 0 => {
                let body = format!("Content-Type: text/plain\r\n\r\nconn={conn}");
                answer = record(STDOUT, request_id, body.as_bytes());
                answer.extend(end_request(request_id));
            }
            _ => {}
        }
        if !answer.is_empty() && stream.write_all(&answer).await.is_err() {
            return;
        }
    }
}
