//! Hello-world on `tokio-fastcgi` for the end-to-end benchmark (`benches/e2e/run.sh`).
//!
//! Usage: `e2e_tokio_fastcgi ADDRESS`

use tokio::net::TcpListener;
use tokio_fastcgi::{RequestResult, Requests};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: e2e_tokio_fastcgi ADDRESS");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(address).await?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // As fastcgi-uwsgi and Go do: without it, a response written in several records
        // waits for the delayed ACK (40 ms) on a kept connection.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            let mut requests = Requests::new(read, write, 10, 10);
            while let Ok(Some(request)) = requests.next().await {
                let processed = request
                    .process(|request| async move {
                        let mut out = request.get_stdout();
                        match out
                            .write(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n")
                            .await
                        {
                            Ok(_) => RequestResult::Complete(0),
                            Err(_) => RequestResult::Complete(1),
                        }
                    })
                    .await;
                if processed.is_err() {
                    break;
                }
            }
        });
    }
}
