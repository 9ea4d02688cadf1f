//! A command-line FastCGI client on [`FastCgiClient`], to use instead of `cgi-fcgi`: sends
//! one request to php-fpm (or any FastCGI application) with the environ nginx's
//! `fastcgi.conf` builds, and writes the response body to stdout as it arrives, the
//! application's STDERR to stderr. `ping` and `status` check php-fpm's health. `--help`
//! lists the options and exit codes.
//!
//! ```sh
//! cargo run -p fastcgi-uwsgi --example fcgi_client -- 127.0.0.1:9000 '/index.php?a=1' --document-root /srv/www
//! cargo run -p fastcgi-uwsgi --example fcgi_client -- unix:/run/php/php-fpm.sock /x.php --param SCRIPT_FILENAME=/srv/x.php -d @form.txt
//! cargo run -p fastcgi-uwsgi --example fcgi_client -- ping 127.0.0.1:9000 && echo healthy
//! cargo run -p fastcgi-uwsgi --example fcgi_client -- status 127.0.0.1:9000 --path '/status?full'
//! ```

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use cli::{Failure, Options, exit};
use fastcgi_uwsgi::client::{ClientConfig, FastCgiClient};
use http_body_util::BodyExt;

const USAGE: &str = "\
usage: fcgi_client [OPTIONS] ADDRESS [PATH[?QUERY]]
       fcgi_client ping [OPTIONS] ADDRESS [--path /ping]
       fcgi_client status [OPTIONS] ADDRESS [--path /status]

Sends one request to a FastCGI application (php-fpm, ...) with the variables of nginx's
fastcgi.conf, and writes the response body to stdout and the application's STDERR to
stderr.

  ADDRESS    host:port, or a Unix socket: unix:/path, /path or ./path
  PATH       the request path and query (default /): SCRIPT_NAME is the path, and
             SCRIPT_FILENAME the document root followed by SCRIPT_NAME (without
             --document-root, the path itself, as php-fpm's ping and status want)

Options:
  -X, --method M           the request method (default GET, or POST with -d)
  -H, --header 'N: V'      a request header (an HTTP_* variable); repeatable
  -d, --data DATA          the request body: @FILE, @- for stdin, or DATA itself; sets
                           Content-Type: application/x-www-form-urlencoded unless -H
                           gives one (as curl)
      --param NAME=VALUE   sets or overrides a variable (e.g. SCRIPT_FILENAME); repeatable
      --document-root DIR  DOCUMENT_ROOT, and the start of SCRIPT_FILENAME
      --split EXT          split the path after the segment ending in EXT (e.g. .php):
                           /x.php/a/b gives SCRIPT_NAME /x.php and PATH_INFO /a/b
      --path PATH          the same as the PATH argument
      --timeout SECS       the longest wait to connect, for the answer, and between two
                           pieces of it (default 5 s to connect, 60 s for the others)
  -i, --include            write the status line and headers before the body
  -f, --fail               write no body and exit 22 when the status is 400 or more
  -q, --quiet              do not copy the application's STDERR to stderr
  -h, --help               print this help

ping     requests PATH (default /ping, php-fpm's ping.path) and succeeds when the
         answer is 200 with the body pong, which it writes to stdout
status   writes PATH (default /status, php-fpm's pm.status_path; add ?full or ?json)
         and succeeds when the answer is 200

Exit status:
  0   the backend answered (whatever the HTTP status, as curl; ping: pong;
      status: 200)
  1   ping or status: the backend answered, but not as a healthy one does
  2   usage error, or the body file cannot be read
  3   cannot connect to ADDRESS
  4   timeout (connecting, or waiting for the answer)
  5   any other error (protocol error, connection lost)
  22  --fail and a status of 400 or more
";

/// What the command line asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Request,
    Ping,
    Status,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args.first().map(String::as_str) {
        Some("ping") => Mode::Ping,
        Some("status") => Mode::Status,
        _ => Mode::Request,
    };
    if mode != Mode::Request {
        args.remove(0);
    }
    let options = match cli::options("fcgi_client", USAGE, args, true) {
        Ok(options) => options,
        Err(code) => return code.into(),
    };
    cli::exit_code("fcgi_client", run(mode, &options).await)
}

async fn run(mode: Mode, options: &Options) -> Result<u8, Failure> {
    let default_path = match mode {
        Mode::Request => "/",
        Mode::Ping => "/ping",
        Mode::Status => "/status",
    };
    let request = cli::request(options, default_path)?;
    let path = request.uri().path().to_owned();
    let client = FastCgiClient::new(
        options.address.as_str(),
        cli::config(options, ClientConfig::fastcgi()),
    );
    let sent = client.send(request);
    match mode {
        Mode::Request => cli::fetch_and_print(sent, options).await.map(|_| exit::OK),
        Mode::Status => {
            let status = cli::fetch_and_print(sent, options).await?;
            if status == http::StatusCode::OK {
                Ok(exit::OK)
            } else {
                Err(unhealthy(options, &path, status, "not 200"))
            }
        }
        Mode::Ping => {
            let response = sent.await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if status != http::StatusCode::OK || body.trim_ascii() != b"pong" {
                let body = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
                return Err(unhealthy(
                    options,
                    &path,
                    status,
                    &format!("not pong: {:?}", body.trim()),
                ));
            }
            std::io::stdout()
                .write_all(b"pong\n")
                .map_err(|e| cli::stdout_error(&e))?;
            Ok(exit::OK)
        }
    }
}

fn unhealthy(options: &Options, path: &str, status: http::StatusCode, why: &str) -> Failure {
    Failure::new(
        exit::UNHEALTHY,
        format!("{} answered {status} to {path}, {why}", options.address),
    )
}
