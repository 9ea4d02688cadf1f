//! One backend as a `tower::Service` of prepared requests, so tower's balancer can choose
//! among several; a backend that refused a connection sits out for the down time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use http::Response;
use tokio::time::Sleep;

use super::body::BackendBody;
use super::call::CallError;
use super::error::ClientError;
use super::pool::Pool;
use super::prepare::Prepared;
use super::uwsgi_call::UwsgiTarget;
use super::{fastcgi_call, uwsgi_call};
use crate::BoxError;

/// Where calls go: a FastCGI pool or a uwsgi backend.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    FastCgi(Arc<Pool>),
    Uwsgi(Arc<UwsgiTarget>),
}

impl Target {
    pub(crate) async fn call(
        &self,
        prepared: Prepared,
    ) -> Result<Response<BackendBody>, CallError> {
        match self {
            Target::FastCgi(pool) => fastcgi_call::call(pool, prepared).await,
            Target::Uwsgi(target) => uwsgi_call::call(target, prepared).await,
        }
    }
}

/// When each backend of a balanced client may be tried again (milliseconds since the
/// client was made; 0: now).
#[derive(Debug)]
pub(crate) struct Health {
    start: StdInstant,
    down_until: Vec<AtomicU64>,
    down_time: Duration,
}

impl Health {
    pub(crate) fn new(backends: usize, down_time: Duration) -> Arc<Health> {
        Arc::new(Health {
            start: StdInstant::now(),
            down_until: (0..backends).map(|_| AtomicU64::new(0)).collect(),
            down_time,
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_down(&self, index: usize) {
        let until = self.now() + u64::try_from(self.down_time.as_millis()).unwrap_or(u64::MAX);
        if let Some(slot) = self.down_until.get(index) {
            slot.store(until.max(1), Ordering::Relaxed);
        }
    }

    fn mark_up(&self, index: usize) {
        if let Some(slot) = self.down_until.get(index) {
            slot.store(0, Ordering::Relaxed);
        }
    }

    /// How long `index` still sits out; `None` when it may be tried (it is up, its time
    /// is over, or every backend is down: then trying beats refusing).
    fn sits_out(&self, index: usize) -> Option<Duration> {
        let now = self.now();
        let until = self.down_until.get(index)?.load(Ordering::Relaxed);
        if until <= now {
            return None;
        }
        let another_up = self
            .down_until
            .iter()
            .enumerate()
            .any(|(i, slot)| i != index && slot.load(Ordering::Relaxed) <= now);
        another_up.then(|| Duration::from_millis(until - now))
    }
}

/// The request came back unsent: the backend could not be reached. Travels through
/// tower's balancer as an error, so the caller can send the request elsewhere.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub(crate) struct Unreached {
    pub(crate) error: ClientError,
    pub(crate) request: Mutex<Option<PreparedCell>>,
}

/// A prepared request held in an error (Debug for the error's sake).
pub(crate) struct PreparedCell(pub(crate) Prepared);

impl std::fmt::Debug for PreparedCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedCell")
    }
}

impl Unreached {
    pub(crate) fn take(&self) -> Option<Prepared> {
        self.request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(|cell| cell.0)
    }
}

/// One backend of a balanced client.
pub(crate) struct Member {
    target: Target,
    index: usize,
    health: Arc<Health>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Member {
    pub(crate) fn new(target: Target, index: usize, health: Arc<Health>) -> Self {
        Member {
            target,
            index,
            health,
            sleep: None,
        }
    }
}

impl tower_service::Service<Prepared> for Member {
    type Response = Response<BackendBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<BackendBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            let Some(wait) = self.health.sits_out(self.index) else {
                self.sleep = None;
                return Poll::Ready(Ok(()));
            };
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
    }

    fn call(&mut self, prepared: Prepared) -> Self::Future {
        let target = self.target.clone();
        let health = self.health.clone();
        let index = self.index;
        Box::pin(async move {
            match target.call(prepared).await {
                Ok(response) => {
                    health.mark_up(index);
                    Ok(response)
                }
                Err(CallError::Unreached(error, prepared)) => {
                    tracing::warn!(%error, "backend left out for its down time");
                    health.mark_down(index);
                    Err(Box::new(Unreached {
                        error,
                        request: Mutex::new(Some(PreparedCell(prepared))),
                    }) as BoxError)
                }
                Err(CallError::Fatal(error)) => Err(Box::new(error) as BoxError),
            }
        })
    }
}
