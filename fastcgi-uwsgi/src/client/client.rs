//! The two public clients: [`FastCgiClient`] and [`UwsgiClient`], each a
//! `tower::Service<http::Request<B>>` over one backend or balanced over several.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as HttpBody;
use tower::balance::p2c::Balance;
use tower::buffer::Buffer;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PendingRequests};
use tower::{Service, ServiceExt};

use super::backend::Backend;
use super::body::BackendBody;
use super::call::CallError;
use super::config::ClientConfig;
use super::error::ClientError;
use super::pool::{Pool, PoolStats};
use super::prepare::{Prepared, prepare_body, prepare_head};
use super::target::{Health, Member, Target, Unreached};
use super::uwsgi_call::UwsgiTarget;
use crate::BoxError;

type Balancer = Balance<ServiceList<Vec<PendingRequests<Member>>>, Prepared>;
type Balanced = Buffer<Prepared, <Balancer as tower_service::Service<Prepared>>::Future>;
/// The balancer's task, spawned by the first call (so a client can be made outside a
/// runtime).
type BalancerTask = Arc<std::sync::Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>>;

/// Requests waiting for the balancer before callers wait to hand it theirs.
const BALANCER_QUEUE: usize = 1024;

/// The future a client's `call` returns.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<BackendBody>, ClientError>> + Send>>;

#[derive(Clone)]
enum Route {
    One(Target),
    Balanced {
        balancer: Balanced,
        task: BalancerTask,
        backends: usize,
    },
}

/// What both clients share.
#[derive(Clone)]
struct Client {
    route: Route,
    config: Arc<ClientConfig>,
    targets: Arc<[(Backend, Target)]>,
}

impl Client {
    fn new(
        backends: Vec<Backend>,
        config: ClientConfig,
        target: impl Fn(Backend, Arc<ClientConfig>) -> Target,
    ) -> Client {
        let config = Arc::new(config);
        let targets: Arc<[(Backend, Target)]> = backends
            .into_iter()
            .map(|backend| (backend.clone(), target(backend, config.clone())))
            .collect();
        let route = if let [(_, only)] = &*targets {
            Route::One(only.clone())
        } else {
            let health = Health::new(targets.len(), config.down_time());
            let members: Vec<_> = targets
                .iter()
                .enumerate()
                .map(|(index, (_, target))| {
                    PendingRequests::new(
                        Member::new(target.clone(), index, health.clone()),
                        CompleteOnResponse::default(),
                    )
                })
                .collect();
            let (balancer, task) =
                Buffer::pair(Balance::new(ServiceList::new(members)), BALANCER_QUEUE);
            Route::Balanced {
                balancer,
                task: Arc::new(std::sync::Mutex::new(Some(Box::pin(task)))),
                backends: targets.len(),
            }
        };
        Client {
            route,
            config,
            targets,
        }
    }

    /// Builds the environ at once and drops the request's head before the call is first
    /// polled: a server reading ahead on the request's connection (hyper does, for the
    /// next request or the close) then reuses the buffer the head was read into instead
    /// of allocating another.
    fn send<B>(
        self,
        request: Request<B>,
    ) -> impl Future<Output = Result<Response<BackendBody>, ClientError>> + Send + 'static
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        let head = prepare_head(&parts, &self.config);
        drop(parts);
        async move {
            let prepared = prepare_body(head?, body, &self.config).await?;
            self.call(prepared).await
        }
    }

    /// Sends `prepared` to its backend, or to the next balanced one that is reachable.
    async fn call(self, mut prepared: Prepared) -> Result<Response<BackendBody>, ClientError> {
        let (mut balancer, backends) = match self.route {
            Route::One(target) => {
                return target.call(prepared).await.map_err(CallError::into_error);
            }
            Route::Balanced {
                balancer,
                task,
                backends,
            } => {
                let unspawned = task
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if let Some(task) = unspawned {
                    tokio::spawn(task);
                }
                (balancer, backends)
            }
        };
        // Each unreachable backend is left out for its down time, so the request goes to
        // the next one; past that many tries, every backend is down.
        let mut last = ClientError::Unavailable;
        for _ in 0..=backends {
            let ready = balancer
                .ready()
                .await
                .map_err(|_| ClientError::Unavailable)?;
            let error = match ready.call(prepared).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            match error.downcast::<Unreached>() {
                Ok(unreached) => {
                    let Some(again) = unreached.take() else {
                        return Err(unreached.error);
                    };
                    prepared = again;
                    last = unreached.error;
                }
                Err(error) => {
                    return Err(error
                        .downcast::<ClientError>()
                        .map_or(ClientError::Unavailable, |error| *error));
                }
            }
        }
        Err(last)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backends: Vec<String> = self.targets.iter().map(|(b, _)| b.to_string()).collect();
        f.debug_struct("Client")
            .field("backends", &backends)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn backends(list: impl IntoIterator<Item = impl Into<Backend>>) -> Vec<Backend> {
    let backends: Vec<Backend> = list.into_iter().map(Into::into).collect();
    assert!(!backends.is_empty(), "a client needs at least one backend");
    backends
}

/// Calls php-fpm (or any FastCGI application) with an `http::Request`: a
/// `tower::Service<http::Request<B>>` answering `http::Response<`[`BackendBody`]`>`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use cgi_env::{Gateway, Preset};
/// use fastcgi_uwsgi::client::{ClientConfig, FastCgiClient};
///
/// let gateway = Gateway::new(Preset::nginx_fastcgi_conf()).with_document_root("/srv/www");
/// let php = FastCgiClient::new("127.0.0.1:9000", ClientConfig::fastcgi().with_gateway(gateway));
/// let request = http::Request::get("/index.php?page=1")
///     .header("host", "example.org")
///     .body(http_body_util::Empty::<bytes::Bytes>::new())?;
/// let response = php.send(request).await?;
/// println!("{}", response.status());
/// # Ok(()) }
/// ```
///
/// Connections are pooled with FCGI_KEEP_CONN: a connection the backend closed (php-fpm
/// recycling a worker after `pm.max_requests`) is dropped from the pool, and a request
/// that had not been sent on it goes out on another. A request whose connection closed
/// after it was sent, before any byte of an answer (a recycled worker's connection, or a
/// stopping php-fpm's listen queue), is sent again only when that cannot change what
/// happened: its method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, as RFC 9110
/// §9.2.2 allows) and its body was small enough to be held whole. Any other request
/// fails with [`ClientError::Closed`]. Each new connection
/// asks GET_VALUES first; several requests share one only when the backend answered
/// FCGI_MPXS_CONNS=1. Dropping the response, or its body before its end, sends
/// ABORT_REQUEST. The request body is streamed while the response is read, so a large
/// upload with a large answer does not deadlock.
#[derive(Debug, Clone)]
pub struct FastCgiClient {
    client: Client,
}

impl FastCgiClient {
    /// A client that spreads requests over `backends` with tower's power-of-two-choices
    /// balancer on pending requests, each backend with its own pool. A backend that
    /// refuses a connection is left out for [`ClientConfig::down_time`], and the request
    /// goes to another.
    ///
    /// # Panics
    /// With no backend.
    pub fn balanced(
        backends: impl IntoIterator<Item = impl Into<Backend>>,
        config: ClientConfig,
    ) -> Self {
        let client = Client::new(self::backends(backends), config, |backend, config| {
            Target::FastCgi(Pool::new(backend, config))
        });
        FastCgiClient { client }
    }

    /// Each backend's pool counters.
    pub fn stats(&self) -> Vec<(Backend, PoolStats)> {
        self.client
            .targets
            .iter()
            .filter_map(|(backend, target)| match target {
                Target::FastCgi(pool) => Some((backend.clone(), pool.stats())),
                Target::Uwsgi(_) => None,
            })
            .collect()
    }
}

/// Calls uWSGI (or any uwsgi-protocol application) with an `http::Request`: a
/// `tower::Service<http::Request<B>>` answering `http::Response<`[`BackendBody`]`>`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use fastcgi_uwsgi::client::{ClientConfig, UwsgiClient};
///
/// let app = UwsgiClient::new("127.0.0.1:3031", ClientConfig::uwsgi());
/// let request = http::Request::get("/hello").body(http_body_util::Empty::<bytes::Bytes>::new())?;
/// let response = app.send(request).await?;
/// println!("{}", response.status());
/// # Ok(()) }
/// ```
///
/// The uwsgi protocol carries one request per connection: each request gets a new one,
/// closed when the response ends or is dropped. The request body is streamed while the
/// response is read.
#[derive(Debug, Clone)]
pub struct UwsgiClient {
    client: Client,
}

impl UwsgiClient {
    /// A client balanced over `backends`, as [`FastCgiClient::balanced`].
    ///
    /// # Panics
    /// With no backend.
    pub fn balanced(
        backends: impl IntoIterator<Item = impl Into<Backend>>,
        config: ClientConfig,
    ) -> Self {
        let client = Client::new(self::backends(backends), config, |backend, config| {
            Target::Uwsgi(Arc::new(UwsgiTarget {
                name: backend.to_string().into(),
                backend,
                config,
            }))
        });
        UwsgiClient { client }
    }
}

/// What both clients offer alike: `new`, `send`, and the `tower::Service`.
macro_rules! service {
    ($client:ty) => {
        impl $client {
            /// A client of one backend.
            pub fn new(backend: impl Into<Backend>, config: ClientConfig) -> Self {
                Self::balanced([backend.into()], config)
            }

            /// Sends `request` and waits for the response head; the body streams after.
            ///
            /// # Errors
            /// A [`ClientError`]; [`ClientError::status_code`] says what a proxy answers.
            pub fn send<B>(&self, request: Request<B>) -> ResponseFuture
            where
                B: HttpBody<Data = Bytes> + Send + 'static,
                B::Error: Into<BoxError>,
            {
                Box::pin(self.client.clone().send(request))
            }
        }

        impl<B> tower_service::Service<Request<B>> for $client
        where
            B: HttpBody<Data = Bytes> + Send + 'static,
            B::Error: Into<BoxError>,
        {
            type Response = Response<BackendBody>;
            type Error = ClientError;
            type Future = ResponseFuture;

            /// Always ready: a call waits for a connection itself (up to the connect
            /// timeout).
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: Request<B>) -> ResponseFuture {
                self.send(request)
            }
        }
    };
}

service!(FastCgiClient);
service!(UwsgiClient);
