//! A PHP application in a router, the way Caddy's `php_fastcgi` serves one: requests
//! for PHP scripts under a document root go to php-fpm, a directory to its index script,
//! everything else to the front controller (`index.php`), with the client's own target
//! as REQUEST_URI.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use cgi_env::{ConnectionInfo, EncodedSlash, ScriptMapping};
use http::{Request, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::Either;

use super::backend::Backend;
use super::client::FastCgiClient;
use super::config::ClientConfig;
use super::mounted::{self, GatewayBody, GatewayFuture};
use super::prepare::EnvironOverrides;
use crate::BoxError;

/// A `tower::Service` that serves a PHP application from php-fpm, for axum's
/// `Router::nest_service` (or any router, or a hyper server):
///
/// - `/x.php` and `/x.php/more` run `x.php` (PATH_INFO `/more`), when the file exists;
/// - `/dir/` runs `/dir/index.php`, when it exists;
/// - anything else runs the front controller `/index.php` (as `try_files $uri
///   $uri/index.php /index.php`), REQUEST_URI still the client's target, and is a 404
///   without one (or with [`PhpService::without_front_controller`]).
///
/// Files other than scripts are not served: put a static file service in front (tower-http's
/// `ServeDir` with this as its fallback). Mounted under a prefix with
/// [`PhpService::mounted_at`], the prefix is kept in REQUEST_URI, SCRIPT_NAME and
/// DOCUMENT_URI, so the application builds its links under it; SCRIPT_FILENAME is
/// under the document root without it. The client's address comes from axum's
/// `ConnectInfo<SocketAddr>` (feature `axum`) or a [`ConnectionInfo`] in the request's
/// extensions. A call that fails is answered with its status (502, 503, 504; 413 and 411
/// for bodies php-fpm cannot take) and logged; the backend's STDERR goes to `tracing`
/// and to [`ClientConfig::with_stderr_hook`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use fastcgi_uwsgi::client::{PhpService, UwsgiService};
///
/// let app = axum::Router::new()
///     .nest_service("/blog", PhpService::new("127.0.0.1:9000", "/srv/blog").mounted_at("/blog"))
///     .nest_service("/api", UwsgiService::new("127.0.0.1:3031").mounted_at("/api"));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PhpService {
    client: FastCgiClient,
    backends: Arc<[Backend]>,
    root: Arc<Path>,
    mount: Arc<str>,
    index: Arc<str>,
    front_controller: bool,
    local: Arc<ConnectionInfo>,
}

/// The script a request runs, decoded.
#[derive(Debug, PartialEq, Eq)]
struct Resolved {
    script: String,
    path_info: String,
}

impl PhpService {
    /// Serves the scripts under `document_root` (as php-fpm sees the file system) from
    /// the php-fpm at `backend`, with [`ClientConfig::fastcgi`].
    pub fn new(backend: impl Into<Backend>, document_root: impl Into<PathBuf>) -> Self {
        Self::balanced([backend.into()], document_root)
    }

    /// As [`PhpService::new`], balanced over several php-fpm pools.
    ///
    /// # Panics
    /// With no backend.
    pub fn balanced(
        backends: impl IntoIterator<Item = impl Into<Backend>>,
        document_root: impl Into<PathBuf>,
    ) -> Self {
        let root: PathBuf = document_root.into();
        let backends: Arc<[Backend]> = backends.into_iter().map(Into::into).collect();
        let config = ClientConfig::fastcgi();
        PhpService {
            local: Arc::new(config.connection_info().clone()),
            client: FastCgiClient::balanced(backends.iter().cloned(), php_config(config, &root)),
            backends,
            root: root.into(),
            mount: Arc::from(""),
            index: Arc::from("index.php"),
            front_controller: true,
        }
    }

    /// Calls php-fpm with `config` (timeouts, pool, STDERR hook, the local end of
    /// [`ConnectionInfo`]); its gateway keeps its preset, with the document root and a
    /// split at `.php`.
    #[must_use]
    pub fn with_config(mut self, config: ClientConfig) -> Self {
        self.local = Arc::new(config.connection_info().clone());
        self.client = FastCgiClient::balanced(
            self.backends.iter().cloned(),
            php_config(config, &self.root),
        );
        self
    }

    /// The prefix the router mounts this service at (`nest_service("/blog", ...)` strips
    /// it from the path this service sees): put back in REQUEST_URI, SCRIPT_NAME and
    /// DOCUMENT_URI. Default none.
    #[must_use]
    pub fn mounted_at(mut self, prefix: &str) -> Self {
        self.mount = mounted::normalise_mount(prefix).into();
        self
    }

    /// The index script of a directory and the front controller. Default `index.php`.
    #[must_use]
    pub fn with_index(mut self, index: &str) -> Self {
        self.index = index.trim_start_matches('/').into();
        self
    }

    /// Answers 404 for a path that is neither a script nor a directory with an index,
    /// instead of running the front controller.
    #[must_use]
    pub fn without_front_controller(mut self) -> Self {
        self.front_controller = false;
        self
    }

    /// The script `path` (what the router left of the target, still percent-encoded)
    /// runs, or the status to answer.
    async fn resolve(&self, path: &str) -> Result<Resolved, StatusCode> {
        let split = ScriptMapping::SplitAtExtension(".php".into())
            .map(path, EncodedSlash::Reject)
            .map_err(|_| StatusCode::BAD_REQUEST)?;
        let script = String::from_utf8(split.script_name).map_err(|_| StatusCode::NOT_FOUND)?;
        let path_info = String::from_utf8(split.path_info).map_err(|_| StatusCode::NOT_FOUND)?;
        let uri = String::from_utf8(split.uri).map_err(|_| StatusCode::NOT_FOUND)?;
        // Case-sensitive, as php-fpm's `security.limit_extensions` and nginx's `\.php$`.
        #[allow(clippy::case_sensitive_file_extension_comparisons)]
        let php = script.ends_with(".php");
        if php && is_file(&self.root, &script).await {
            return Ok(Resolved { script, path_info });
        }
        let directory = uri.trim_end_matches('/');
        let index = format!("{directory}/{}", self.index);
        if is_dir(&self.root, &uri).await && is_file(&self.root, &index).await {
            return Ok(Resolved {
                script: index,
                path_info: String::new(),
            });
        }
        let front = format!("/{}", self.index);
        if self.front_controller && is_file(&self.root, &front).await {
            return Ok(Resolved {
                script: front,
                path_info: String::new(),
            });
        }
        Err(StatusCode::NOT_FOUND)
    }
}

/// `config` with the document root and the split at `.php`.
fn php_config(config: ClientConfig, root: &Path) -> ClientConfig {
    let gateway = config
        .gateway()
        .clone()
        .with_mapping(ScriptMapping::SplitAtExtension(".php".into()))
        .with_document_root(root.to_string_lossy());
    config.with_gateway(gateway)
}

/// Whether `path` (decoded, normalised, from `/`) under `root` is a file.
async fn is_file(root: &Path, path: &str) -> bool {
    tokio::fs::metadata(root.join(path.trim_start_matches('/')))
        .await
        .is_ok_and(|meta| meta.is_file())
}

async fn is_dir(root: &Path, path: &str) -> bool {
    tokio::fs::metadata(root.join(path.trim_start_matches('/')))
        .await
        .is_ok_and(|meta| meta.is_dir())
}

impl<B> tower_service::Service<Request<B>> for PhpService
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<GatewayBody>;
    type Error = Infallible;
    type Future = GatewayFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> GatewayFuture {
        let service = self.clone();
        Box::pin(async move {
            let target = mounted::client_target(&service.mount, request.uri());
            let resolved = match service.resolve(request.uri().path()).await {
                Ok(resolved) => resolved,
                Err(status) => return Ok(mounted::status_page(status)),
            };
            let info = mounted::connection_info(&request, &service.local);
            let (mut parts, body) = request.into_parts();
            // The gateway maps this path to the script: SCRIPT_FILENAME under the root.
            let mut path = Vec::new();
            cgi_env::percent_encode_path(resolved.script.as_bytes(), &mut path);
            cgi_env::percent_encode_path(resolved.path_info.as_bytes(), &mut path);
            let mut uri = String::from_utf8_lossy(&path).into_owned();
            if let Some(query) = parts.uri.query() {
                uri.push('?');
                uri.push_str(query);
            }
            match uri.parse() {
                Ok(uri) => parts.uri = uri,
                Err(_) => return Ok(mounted::status_page(StatusCode::BAD_REQUEST)),
            }
            let mount = &service.mount;
            parts.extensions.insert(EnvironOverrides(vec![
                ("REQUEST_URI", target.clone().into_bytes()),
                (
                    "SCRIPT_NAME",
                    format!("{mount}{}", resolved.script).into_bytes(),
                ),
                // nginx's fastcgi.conf has none; Caddy sends it, as CGI asks.
                ("PATH_INFO", resolved.path_info.clone().into_bytes()),
                (
                    "DOCUMENT_URI",
                    format!("{mount}{}{}", resolved.script, resolved.path_info).into_bytes(),
                ),
            ]));
            if let Some(info) = info {
                parts.extensions.insert(info);
            }
            match service.client.send(Request::from_parts(parts, body)).await {
                Ok(response) => Ok(response.map(Either::Left)),
                Err(error) => Ok(mounted::failure(&error, &target)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (tempdir::Dir, PhpService) {
        let dir = tempdir::Dir::new();
        for file in ["index.php", "x.php", "docs/index.php", "static.txt"] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "<?php").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        let service = PhpService::new("127.0.0.1:9", dir.path());
        (dir, service)
    }

    fn ran(script: &str, path_info: &str) -> Resolved {
        Resolved {
            script: script.into(),
            path_info: path_info.into(),
        }
    }

    #[tokio::test]
    async fn requests_resolve_as_caddy_php_fastcgi_does() {
        let (_dir, php) = site();
        assert_eq!(php.resolve("/x.php").await, Ok(ran("/x.php", "")));
        assert_eq!(php.resolve("/x.php/a/b").await, Ok(ran("/x.php", "/a/b")));
        assert_eq!(php.resolve("/docs/").await, Ok(ran("/docs/index.php", "")));
        assert_eq!(php.resolve("/docs").await, Ok(ran("/docs/index.php", "")));
        assert_eq!(php.resolve("/").await, Ok(ran("/index.php", "")));
        // Not a script, or no such script: the front controller.
        for path in ["/users/7", "/missing.php", "/static.txt", "/empty/"] {
            assert_eq!(php.resolve(path).await, Ok(ran("/index.php", "")), "{path}");
        }
        // Never above the root.
        assert_eq!(
            php.resolve("/../etc/passwd").await,
            Err(StatusCode::BAD_REQUEST)
        );
        let strict = php.without_front_controller();
        assert_eq!(strict.resolve("/users/7").await, Err(StatusCode::NOT_FOUND));
        assert_eq!(strict.resolve("/x.php").await, Ok(ran("/x.php", "")));
    }

    /// A directory of its own under the system's temporary directory, removed on drop.
    mod tempdir {
        pub(super) struct Dir(std::path::PathBuf);

        impl Dir {
            pub(super) fn new() -> Dir {
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path =
                    std::env::temp_dir().join(format!("php-service-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }

            pub(super) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
