//! What the command-line clients share: the options, the request and client config they
//! make, writing the response to stdout, and the exit codes.

use std::io::{ErrorKind, Read as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cgi_env::{Param, ScriptMapping, Var};
use fastcgi_uwsgi::client::{BackendBody, ClientConfig, ClientError, ResponseFuture};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

/// The exit codes (documented in each tool's `--help`).
pub mod exit {
    /// The backend answered (ping: pong; status: 200).
    pub const OK: u8 = 0;
    /// ping or status: the backend answered, but not as a healthy one does.
    #[allow(dead_code)] // fcgi_client's only
    pub const UNHEALTHY: u8 = 1;
    /// A bad command line, or a body file that cannot be read.
    pub const USAGE: u8 = 2;
    /// The backend could not be reached.
    pub const CONNECT: u8 = 3;
    /// A timeout: connecting, or waiting for the answer.
    pub const TIMEOUT: u8 = 4;
    /// Anything else: a protocol error, a lost connection.
    pub const OTHER: u8 = 5;
    /// `--fail` and a status of 400 or more (curl's code).
    pub const HTTP_ERROR: u8 = 22;
}

/// Why a run ends early: an exit code and what to say on stderr (nothing for a quiet
/// exit, such as a closed stdout).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// The one-line message, if any.
    pub message: Option<String>,
}

impl Failure {
    /// Exits with `code`, saying `message`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: Some(message.into()),
        }
    }

    /// Exits with `code`, saying nothing.
    pub fn quiet(code: u8) -> Self {
        Failure {
            code,
            message: None,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        let code = match &error {
            ClientError::Connect { .. } => exit::CONNECT,
            ClientError::Timeout { .. } => exit::TIMEOUT,
            ClientError::BadRequest(_) => exit::USAGE,
            _ => exit::OTHER,
        };
        Failure::new(code, error.to_string())
    }
}

/// Where the request body comes from (`-d`).
#[derive(Debug, Clone)]
pub enum Data {
    /// `@FILE`.
    File(String),
    /// `@-`.
    Stdin,
    /// The argument itself.
    Literal(String),
}

/// The parsed command line.
#[derive(Debug, Default)]
pub struct Options {
    /// The backend's address.
    pub address: String,
    /// The request target's path and query; `None` for the tool's default.
    pub path: Option<String>,
    /// `-X`.
    pub method: Option<Method>,
    /// `-H`, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `--param NAME=VALUE`, in order.
    pub params: Vec<(String, String)>,
    /// `--document-root`.
    pub document_root: Option<String>,
    /// `--split EXT` (FastCGI only).
    pub split: Option<String>,
    /// `-d`.
    pub data: Option<Data>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `-i`.
    pub include: bool,
    /// `-f`.
    pub fail: bool,
    /// `-q`.
    pub quiet: bool,
}

/// The options that take a value.
const VALUED: &[&str] = &[
    "-X",
    "--method",
    "-H",
    "--header",
    "-d",
    "--data",
    "--param",
    "--document-root",
    "--split",
    "--path",
    "--timeout",
];

/// Parses the options both tools take; `split` allows `--split`. `None` for `--help`; a
/// usage error is the one-line message to print.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    split: bool,
) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    let mut only_positional = false;
    while let Some(arg) = args.next() {
        if only_positional || !arg.starts_with('-') || arg == "-" {
            positional.push(arg);
            continue;
        }
        // `--name=value`, `-Xvalue`, or the value in the next argument.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ if !arg.starts_with("--") && arg.len() > 2 && arg.is_char_boundary(2) => {
                (arg[..2].to_owned(), Some(arg[2..].to_owned()))
            }
            _ => (arg.clone(), None),
        };
        if inline.is_some() && !VALUED.contains(&flag.as_str()) {
            return Err(format!("unknown option {arg}"));
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--" => only_positional = true,
            "-i" | "--include" => options.include = true,
            "-f" | "--fail" => options.fail = true,
            "-q" | "--quiet" => options.quiet = true,
            "-X" | "--method" => {
                let method = value()?;
                let parsed = Method::from_bytes(method.as_bytes())
                    .map_err(|_| format!("bad method {method:?}"))?;
                options.method = Some(parsed);
            }
            "-H" | "--header" => options.headers.push(header(&value()?)?),
            "-d" | "--data" => {
                let data = value()?;
                options.data = Some(match data.strip_prefix('@') {
                    Some("-") => Data::Stdin,
                    Some(file) => Data::File(file.to_owned()),
                    None => Data::Literal(data),
                });
            }
            "--param" => {
                let param = value()?;
                let (name, value) = param
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| format!("--param takes NAME=VALUE, not {param:?}"))?;
                options.params.push((name.to_owned(), value.to_owned()));
            }
            "--document-root" => options.document_root = Some(value()?),
            "--split" if split => options.split = Some(value()?),
            "--path" => options.path = Some(value()?),
            "--timeout" => {
                let secs = value()?;
                let timeout = secs
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| format!("--timeout takes seconds, not {secs:?}"))?;
                options.timeout = Some(timeout);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let mut positional = positional.into_iter();
    options.address = positional.next().ok_or("missing ADDRESS")?;
    if let Some(path) = positional.next()
        && options.path.replace(path).is_some()
    {
        return Err("PATH given twice (argument and --path)".to_owned());
    }
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    Ok(Some(options))
}

/// `Name: value`.
fn header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let bad = || format!("-H takes 'Name: value', not {text:?}");
    let (name, value) = text.split_once(':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

/// `base` with the options' gateway (document root, split, params), timeouts and the
/// stderr copy.
pub fn config(options: &Options, base: ClientConfig) -> ClientConfig {
    let mut gateway = base.gateway().clone();
    let mut preset = gateway.preset().clone();
    if let Some(extension) = &options.split {
        // As Debian's snippets/fastcgi-php.conf: PATH_INFO first, then fastcgi.conf.
        preset = preset.with_first(Param::new("PATH_INFO", Var::PathInfo));
        gateway = gateway.with_mapping(ScriptMapping::SplitAtExtension(extension.clone()));
    }
    for (name, value) in &options.params {
        preset = preset.with(Param::fixed(name.clone(), value.clone().into_bytes()));
    }
    gateway = gateway.with_preset(preset);
    if let Some(root) = &options.document_root {
        gateway = gateway.with_document_root(root.clone());
    }
    let mut config = base.with_gateway(gateway);
    if let Some(timeout) = options.timeout {
        config = config
            .with_connect_timeout(timeout)
            .with_first_byte_timeout(timeout)
            .with_between_bytes_timeout(timeout)
            .with_write_timeout(timeout);
    }
    if !options.quiet {
        config = config.with_stderr_hook(|_, bytes| {
            if !bytes.is_empty() {
                STDERR_LINE_OPEN.store(!bytes.ends_with(b"\n"), Ordering::Relaxed);
            }
            let _ = std::io::stderr().write_all(bytes);
        });
    }
    config
}

/// The backend's STDERR copied to stderr so far did not end with a newline.
static STDERR_LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// Ends the backend's STDERR copied to stderr with a newline if it did not end with one,
/// so the shell prompt (or the next message) starts on a line of its own.
fn end_stderr_line() {
    if STDERR_LINE_OPEN.swap(false, Ordering::Relaxed) {
        let _ = std::io::stderr().write_all(b"\n");
    }
}

/// The request the options describe, for `default_path` when they name none.
pub fn request(options: &Options, default_path: &str) -> Result<Request<Full<Bytes>>, Failure> {
    let body = match &options.data {
        None => Bytes::new(),
        Some(Data::Literal(text)) => Bytes::from(text.clone()),
        Some(Data::File(file)) => std::fs::read(file)
            .map(Bytes::from)
            .map_err(|e| Failure::new(exit::USAGE, format!("cannot read body file {file}: {e}")))?,
        Some(Data::Stdin) => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
                Failure::new(exit::USAGE, format!("cannot read the body from stdin: {e}"))
            })?;
            Bytes::from(bytes)
        }
    };
    let path = options.path.as_deref().unwrap_or(default_path);
    if !path.starts_with('/') {
        return Err(Failure::new(
            exit::USAGE,
            format!("PATH must start with /, not {path:?}"),
        ));
    }
    let method = options.method.clone().unwrap_or(if options.data.is_some() {
        Method::POST
    } else {
        Method::GET
    });
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(body))
        .map_err(|e| Failure::new(exit::USAGE, format!("bad PATH {path:?}: {e}")))?;
    let headers = request.headers_mut();
    for (name, value) in &options.headers {
        headers.append(name, value.clone());
    }
    if options.data.is_some() && !headers.contains_key(http::header::CONTENT_TYPE) {
        // As curl -d.
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    Ok(request)
}

/// Sends the request and writes the answer to stdout (`include`: the status line and
/// headers first), as the options say; `--fail` writes no body for a status of 400 or
/// more and exits 22. A closed stdout ends the run quietly with 0.
pub async fn fetch_and_print(
    sent: ResponseFuture,
    options: &Options,
) -> Result<StatusCode, Failure> {
    let response = sent.await?;
    let status = response.status();
    if options.fail && (status.is_client_error() || status.is_server_error()) {
        return Err(Failure::new(
            exit::HTTP_ERROR,
            format!("{} answered {status}", options.address),
        ));
    }
    print(response, options.include).await?;
    Ok(status)
}

/// Writes `response` to stdout as it arrives.
pub async fn print(response: Response<BackendBody>, include: bool) -> Result<(), Failure> {
    let (parts, mut body) = response.into_parts();
    let mut stdout = std::io::stdout();
    if include {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            parts.status.as_str(),
            parts.status.canonical_reason().unwrap_or_default()
        )
        .into_bytes();
        for (name, value) in &parts.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        stdout.write_all(&head).map_err(|e| stdout_error(&e))?;
    }
    while let Some(frame) = body.frame().await {
        if let Ok(chunk) = frame?.into_data() {
            // Flushed at once (stdout is line-buffered): a streaming backend is seen live.
            stdout.write_all(&chunk).map_err(|e| stdout_error(&e))?;
            stdout.flush().map_err(|e| stdout_error(&e))?;
        }
    }
    stdout.flush().map_err(|e| stdout_error(&e))
}

/// A closed pipe (`| head`) is the reader's choice: exit 0, quietly.
pub fn stdout_error(error: &std::io::Error) -> Failure {
    if error.kind() == ErrorKind::BrokenPipe {
        Failure::quiet(exit::OK)
    } else {
        Failure::new(exit::OTHER, format!("cannot write to stdout: {error}"))
    }
}

/// Ends the process as `result` says, printing a failure's message after `name: `.
pub fn exit_code(name: &str, result: Result<u8, Failure>) -> std::process::ExitCode {
    end_stderr_line();
    match result {
        Ok(code) => code.into(),
        Err(failure) => {
            if let Some(message) = failure.message {
                eprintln!("{name}: {message}");
            }
            failure.code.into()
        }
    }
}

/// Prints `usage` on `--help`, or says what is wrong and exits 2.
pub fn options(
    name: &str,
    usage: &str,
    args: impl IntoIterator<Item = String>,
    split: bool,
) -> Result<Options, u8> {
    match parse(args, split) {
        Ok(Some(options)) => Ok(options),
        Ok(None) => {
            // A closed pipe (`--help | head -1`) is no error.
            let _ = std::io::stdout().write_all(usage.as_bytes());
            Err(exit::OK)
        }
        Err(message) => {
            eprintln!("{name}: {message} (try --help)");
            Err(exit::USAGE)
        }
    }
}
