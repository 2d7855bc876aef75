//! The public HTTP listener: accepts TCP connections, serves HTTP/1.1 on each (keep-alive,
//! header limits answered with 431, idle connections closed), and sends every request
//! either to the control plane (a tower `Service`, e.g. an axum `Router`) when its Host is a
//! control host, or to the proxy. `serve_stream` takes any byte stream so a TLS listener can
//! reuse it. Shutdown: stop accepting, let in-flight requests finish within the grace
//! period, then cut what is left.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Either;
use hyper::body::{Body, Incoming};
use hyper::header::HOST;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::body::ProxyBody;
use super::connection::{ActivityIo, ConnectionContext, ConnectionInfo};
use super::error::RouterError;
use super::headers;
use super::host::HostKey;
use super::pages::{Page, wants_html};
use super::watch::{CLOSE, IDLE, SHUTDOWN, Sweeper};
use super::{Router, Shared, fast, proxy, request_id};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The body of every response the listener writes: the proxy's or the control plane's.
pub type ListenerBody<B> = Either<ProxyBody, B>;

/// Serves `listener` until `shutdown` is cancelled, then drains (see `Listener::drain`).
pub async fn serve<C, B>(
    listener: TcpListener,
    router: Router,
    control: C,
    shutdown: CancellationToken,
) -> Result<(), RouterError>
where
    C: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let public = Listener::new(router, control, shutdown);
    let accepted = public.accept_loop(listener).await;
    public.drain().await;
    accepted
}

/// Connections served for the router and the control plane, and their shutdown.
pub struct Listener<C> {
    router: Router,
    control: C,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    tasks: TaskTracker,
    sweeper: Arc<Sweeper>,
}

impl<C, B> Listener<C>
where
    C: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// A listener whose connections are swept for timeouts by one task, spawned here (so
    /// this must be called inside a tokio runtime).
    pub fn new(router: Router, control: C, shutdown: CancellationToken) -> Self {
        let sweeper = Sweeper::new(&router.shared.settings);
        let hard_stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(Arc::clone(&sweeper).run(shutdown.clone(), hard_stop.clone()));
        Self {
            router,
            control,
            shutdown,
            hard_stop,
            tasks,
            sweeper,
        }
    }

    /// Accepts plain-HTTP connections until shutdown. Accept errors (e.g. out of file
    /// descriptors) are logged and retried, never fatal.
    pub async fn accept_loop(&self, listener: TcpListener) -> Result<(), RouterError> {
        let local_port = listener
            .local_addr()
            .map_err(RouterError::LocalAddr)?
            .port();
        loop {
            let accepted = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Ok(()),
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "could not set TCP_NODELAY on a client connection");
                    }
                    let info = ConnectionInfo {
                        peer,
                        local_port,
                        is_tls: false,
                    };
                    self.serve_stream(stream, info);
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed; retrying shortly");
                    tokio::select! {
                        () = self.shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            }
        }
    }

    /// Serves HTTP/1.1 on an accepted stream (plain TCP, or TLS after its handshake) in a
    /// task tracked for shutdown.
    pub fn serve_stream<IO>(&self, io: IO, info: ConnectionInfo)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = ConnectionContext::new(
            info,
            &self.router.shared.settings,
            self.sweeper.watch(),
            self.tasks.clone(),
        );
        let shared = Arc::clone(&self.router.shared);
        let control = self.control.clone();
        let conn = Arc::new(conn);
        let client = ActivityIo::new(io, Arc::clone(&conn.watch));
        if !shared.settings.fast_path {
            self.tasks
                .spawn(serve_connection(shared, control, client, conn));
            return;
        }
        self.tasks.spawn(async move {
            let mut client = client;
            if let fast::Outcome::Handover(read) = fast::serve(&shared, &conn, &mut client).await {
                serve_connection(shared, control, client.rewound(read.freeze()), conn).await;
            }
        });
    }

    /// After shutdown: waits up to the drain grace for connections and tunnels to finish,
    /// then closes what is left and the router's idle upstream connections.
    pub async fn drain(&self) {
        self.tasks.close();
        let grace = self.router.shared.settings.drain_grace;
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "requests still in flight after the drain grace; closing them"
            );
            self.hard_stop.cancel();
            self.tasks.wait().await;
        }
        self.router.close_idle_connections();
    }
}

async fn serve_connection<IO, C, B>(
    shared: Arc<Shared>,
    control: C,
    io: ActivityIo<IO>,
    conn: Arc<ConnectionContext>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let watch = Arc::clone(&conn.watch);
    let io = TokioIo::new(io);
    let service = {
        let shared = Arc::clone(&shared);
        service_fn(move |request| {
            dispatch(
                Arc::clone(&shared),
                control.clone(),
                Arc::clone(&conn),
                request,
            )
        })
    };
    let connection = shared.http1.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let mut finishing = false;
    // Signals are atomics checked on each wake-up: cheaper than polling timers and
    // cancellation tokens (a mutex each) alongside every request.
    let served = poll_fn(|cx| {
        let signals = watch.poll_signals(cx.waker());
        if signals & CLOSE != 0 {
            return Poll::Ready(None);
        }
        if signals & (IDLE | SHUTDOWN) != 0 && !finishing {
            connection.as_mut().graceful_shutdown();
            finishing = true;
        }
        connection.as_mut().poll(cx).map(Some)
    })
    .await;
    if let Some(Err(error)) = served {
        tracing::debug!(%error, "client connection ended with an error");
    }
}

async fn dispatch<C, B>(
    shared: Arc<Shared>,
    mut control: C,
    conn: Arc<ConnectionContext>,
    mut request: Request<Incoming>,
) -> Result<Response<ListenerBody<B>>, Infallible>
where
    C: Service<Request<Incoming>, Response = Response<B>> + Send,
    C::Error: Into<BoxError>,
{
    if let Some(answer) = shared.https.challenge_response(&conn, &request) {
        return Ok(answer.map(Either::Left));
    }
    let raw_host = match request.headers().get(HOST) {
        Some(host) => Some(host.as_bytes()),
        None => request.uri().authority().map(|a| a.as_str().as_bytes()),
    };
    let host = raw_host.and_then(HostKey::parse);
    conn.watch.request_started();
    if host
        .as_ref()
        .is_some_and(|h| shared.settings.is_control_key(h))
    {
        // The control plane learns the peer and the client (failed-login limits), and
        // whether TLS carried the request (the web UI marks its cookies `Secure` then).
        let client = headers::control_client(request.headers(), &conn, &shared.settings);
        request.extensions_mut().insert(conn.info);
        request.extensions_mut().insert(client);
        let html = wants_html(request.headers());
        let request_id = request_id::from_headers_or_new(request.headers());
        let ready: Result<(), BoxError> = poll_fn(|cx| control.poll_ready(cx))
            .await
            .map_err(Into::into);
        conn.watch.control_working(true);
        let answered = match ready {
            Ok(()) => control.call(request).await.map_err(Into::into),
            Err(error) => Err(error),
        };
        conn.watch.control_working(false);
        // A streamed control-plane body is not tracked to its end; it is cut only if it
        // stays silent for two idle periods.
        conn.watch.request_finished();
        return Ok(match answered {
            Ok(response) => response.map(Either::Right),
            Err(error) => {
                tracing::error!(%error, request_id = ?request_id, "the control plane failed a request");
                Page::control_plane_failure()
                    .render(html, &request_id)
                    .map(Either::Left)
            }
        });
    }
    Ok(proxy::proxy(&shared, request, &conn, host)
        .await
        .map(Either::Left))
}
