//! Serving on threads of the server's own, one single-threaded runtime each
//! ([`ServeConfig::threads`](crate::ServeConfig::threads)).
//!
//! Every thread accepts from its own descriptor of the one listening socket (or, for a
//! listener bound with [`Listener::bind_reuse_port`](crate::Listener::bind_reuse_port),
//! from a socket of its own on the same address) and serves the connections it accepted
//! from start to end: a connection's reads, its requests and its
//! writes never move between threads, so no request wakes another thread, and no work
//! waits behind a queue shared by all. A busy thread accepts less, which spreads the
//! connections. The budgets and limits are shared by all threads, as by the tasks of one
//! runtime.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::limit::Limit;
use crate::listener::StdListener;
use crate::respond::{CgiService, ResponseBody};
use crate::server::{Protocol, Server, Shared, accept_loop, drain};

/// Serves `listener` on [`ServeConfig::threads`](crate::ServeConfig::threads) threads until
/// `signal` completes (or this future is dropped), then shuts down as
/// [`Server::serve_with_shutdown`] does and returns once every thread has ended.
pub(crate) async fn serve<S, B>(
    server: &Server,
    listener: StdListener,
    service: S,
    signal: impl Future<Output = ()>,
) where
    S: CgiService<B>,
    B: ResponseBody,
{
    let (stop, shared) = server.shared();
    let connections = Limit::new(server.config().max_connections());
    // Each thread holds a sender until its runtime is gone: `recv` answers `None` then.
    let (ended, mut all_ended) = mpsc::channel::<()>(1);
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    for index in 0..server.config().threads() {
        // The first thread takes the socket itself: connections it queued stay served.
        let socket = if index == 0 {
            listener.try_clone()
        } else {
            listener.sibling()
        };
        let thread = socket.and_then(|listener| {
            let (protocol, service, shared, connections, ended, dispatch) = (
                server.protocol(),
                service.clone(),
                shared.clone(),
                connections.clone(),
                ended.clone(),
                dispatch.clone(),
            );
            std::thread::Builder::new()
                .name(format!("fastcgi-uwsgi-{index}"))
                .spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        serve_thread(protocol, listener, service, shared, connections);
                    });
                    drop(ended);
                })
        });
        if let Err(error) = thread {
            tracing::error!(%error, thread = index, "cannot start a serving thread");
        }
    }
    drop((listener, ended));
    let mut signal = std::pin::pin!(signal);
    tokio::select! {
        () = &mut signal => {}
        // Every thread failed to start.
        _ = all_ended.recv() => return,
    }
    let _ = stop.send(true);
    while all_ended.recv().await.is_some() {}
}

/// One thread: its own runtime, accept loop and connections.
fn serve_thread<S, B>(
    protocol: Protocol,
    listener: StdListener,
    service: S,
    shared: Arc<Shared>,
    connections: Arc<Limit>,
) where
    S: CgiService<B>,
    B: ResponseBody,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot build a serving thread's runtime");
            return;
        }
    };
    // The loop runs as a task, not as `block_on`'s future: waking that future writes to
    // the runtime's wake-up descriptor, one system call per accept.
    let serving = runtime.spawn(async move {
        let listener = match listener.into_tokio() {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "cannot register the listener on a serving thread");
                return;
            }
        };
        let mut shutdown = shared.shutdown.clone();
        // Ends on shutdown, and when the server's future is dropped (the sender with it).
        let signal = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let tasks = accept_loop(protocol, &listener, service, &shared, &connections, signal).await;
        drop(listener);
        drain(tasks, shared.config.shutdown_timeout()).await;
    });
    let _ = runtime.block_on(serving);
    // Whatever a connection left running (a request's task) ends with its runtime.
    drop(runtime);
}
