//! A command-line uwsgi client on [`UwsgiClient`], to use instead of `uwsgi_curl`: sends
//! one request to uWSGI (or any uwsgi application) with the variables of nginx's
//! `uwsgi_params`, and writes the response body to stdout. `--help` lists the options and
//! exit codes.
//!
//! ```sh
//! cargo run -p fastcgi-uwsgi --example uwsgi_client -- 127.0.0.1:3031 '/path?x=1' -i
//! cargo run -p fastcgi-uwsgi --example uwsgi_client -- unix:/run/uwsgi/app.sock /upload -d @FILE
//! ```

mod cli;

use std::process::ExitCode;

use cli::{Failure, Options, exit};
use fastcgi_uwsgi::client::{ClientConfig, UwsgiClient};

const USAGE: &str = "\
usage: uwsgi_client [OPTIONS] ADDRESS [PATH[?QUERY]]

Sends one request to a uwsgi application (uWSGI, ...) with the variables of nginx's
uwsgi_params, and writes the response body to stdout.

  ADDRESS    host:port, or a Unix socket: unix:/path, /path or ./path
  PATH       the request path and query (default /); PATH_INFO is the path

Options:
  -X, --method M           the request method (default GET, or POST with -d)
  -H, --header 'N: V'      a request header (an HTTP_* variable); repeatable
  -d, --data DATA          the request body: @FILE, @- for stdin, or DATA itself; sets
                           Content-Type: application/x-www-form-urlencoded unless -H
                           gives one (as curl)
      --param NAME=VALUE   sets or overrides a variable (e.g. SCRIPT_NAME); repeatable
      --document-root DIR  DOCUMENT_ROOT
      --path PATH          the same as the PATH argument
      --timeout SECS       the longest wait to connect, for the answer, and between two
                           pieces of it (default 5 s to connect, 60 s for the others)
  -i, --include            write the status line and headers before the body
  -f, --fail               write no body and exit 22 when the status is 400 or more
  -q, --quiet              accepted for symmetry with fcgi_client (uwsgi has no STDERR)
  -h, --help               print this help

Exit status:
  0   the backend answered (whatever the HTTP status, as curl)
  2   usage error, or the body file cannot be read
  3   cannot connect to ADDRESS
  4   timeout (connecting, or waiting for the answer)
  5   any other error (protocol error, connection lost)
  22  --fail and a status of 400 or more
";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match cli::options("uwsgi_client", USAGE, std::env::args().skip(1), false) {
        Ok(options) => options,
        Err(code) => return code.into(),
    };
    cli::exit_code("uwsgi_client", run(&options).await)
}

async fn run(options: &Options) -> Result<u8, Failure> {
    let request = cli::request(options, "/")?;
    let client = UwsgiClient::new(
        options.address.as_str(),
        cli::config(options, ClientConfig::uwsgi()),
    );
    cli::fetch_and_print(client.send(request), options)
        .await
        .map(|_| exit::OK)
}
