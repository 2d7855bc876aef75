//! The proxy: routes one request by Host, picks an endpoint, sends the request (retrying
//! once elsewhere when nothing was sent), and turns the outcome into a streamed response,
//! a tunnel, or an error page, with metrics and an access line. A request for a sleeping
//! app waits for its wake first. The control-plane split happens before this, in
//! listener.rs.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::{Body, Incoming};
use hyper::header::{HOST, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Uri, Version};

use super::Shared;
use super::access_log::{AccessLine, ErrorCode};
use super::balancer;
use super::body::{Completion, ProxyBody, UploadBody};
use super::connection::ConnectionContext;
use super::endpoint::{Endpoint, Lease};
use super::headers;
use super::host::HostKey;
use super::https;
use super::metrics::{AppMetrics, UpstreamErrorKind};
use super::pages::{Page, wants_html};
use super::request_id;
use super::table::{AppEntry, AppRoute, UnavailableReason};
use super::tunnel;
use super::upstream::{self, ConnectError, SendOutcome, UpstreamConnection};
use super::wake::{Hold, Woken};

/// What every outcome of one request needs to answer and log it.
pub(crate) struct Exchange<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) conn: &'a ConnectionContext,
    pub(crate) line: AccessLine,
    pub(crate) metrics: Option<Arc<AppMetrics>>,
    pub(crate) started: Instant,
    pub(crate) html: bool,
}

impl Exchange<'_> {
    /// Answers with a page the router wrote, logging it at once.
    pub(crate) fn page(mut self, page: Page) -> Response<ProxyBody> {
        let response = page.render(self.html, &self.line.request_id);
        if let Some(metrics) = &self.metrics {
            metrics.count_status(page.status.as_u16());
        }
        self.line.error = Some(page.code);
        self.line.status = page.status.as_u16();
        self.line.bytes = response.body().size_hint().exact().unwrap_or(0);
        self.line.service = self.started.elapsed();
        (self.shared.access_log)(self.line);
        self.conn.watch.request_finished();
        response
    }

    /// Sends a plain-HTTP request of an https-only app to HTTPS, logging it at once.
    fn redirect(mut self, location: HeaderValue) -> Response<ProxyBody> {
        let response = https::redirect_response(location);
        self.line.status = response.status().as_u16();
        self.line.service = self.started.elapsed();
        (self.shared.access_log)(self.line);
        self.conn.watch.request_finished();
        response
    }

    /// Hands the access line over and ends the request on its connection.
    pub(crate) fn log(mut self) {
        self.line.service = self.started.elapsed();
        (self.shared.access_log)(self.line);
        self.conn.watch.request_finished();
    }

    pub(crate) fn upstream_error(&self, kind: UpstreamErrorKind) {
        if let Some(metrics) = &self.metrics {
            metrics.upstream_error(kind);
        }
    }
}

/// Proxies a request whose Host is not a control host.
pub(crate) async fn proxy(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    conn: &ConnectionContext,
    host: Option<HostKey>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let request_headers = request.headers();
    let line = AccessLine {
        app: None,
        error: None,
        method: request.method().clone(),
        uri: request.uri().clone(),
        host: request_headers.get(HOST).cloned(),
        request_id: request_id::from_headers_or_new(request_headers),
        fwd: headers::client_ip(
            request_headers,
            conn.info.peer.ip().to_canonical(),
            conn.peer_trusted,
            &shared.settings,
        ),
        dyno: None,
        connect: Default::default(),
        service: Default::default(),
        status: 0,
        bytes: 0,
        protocol: conn.protocol(),
    };
    let mut exchange = Exchange {
        shared,
        conn,
        line,
        metrics: None,
        started,
        html: wants_html(request_headers),
    };
    let entry = host.as_ref().and_then(|host| {
        let table = shared.table.load();
        table.resolve(host.as_str(), &shared.paas_domain).cloned()
    });
    let Some(entry) = entry else {
        shared.metrics.unknown_host();
        let shown = host.as_ref().map_or("", HostKey::as_str);
        return exchange.page(Page::unknown_host(shown));
    };
    exchange.line.app = Some(Arc::clone(&entry.name));
    exchange.metrics = entry.metrics.get().cloned();
    if let Some(location) = shared.https.redirect_location(conn, &entry.name, &request) {
        return exchange.redirect(location);
    }
    match &entry.route {
        AppRoute::Serving(endpoints) if !endpoints.is_empty() => {
            forward(exchange, &entry, endpoints, request).await
        }
        AppRoute::Serving(_) => {
            exchange.page(Page::unavailable(&entry.name, UnavailableReason::Unhealthy))
        }
        AppRoute::Unavailable(UnavailableReason::Sleeping) => held(exchange, &entry, request).await,
        AppRoute::Unavailable(reason) => exchange.page(Page::unavailable(&entry.name, *reason)),
    }
}

/// A request for a sleeping app: held until a wake serves the app, then forwarded to the
/// table of that moment (see wake.rs). A browser waiting past `wake_page_after` gets a
/// page that reloads itself.
async fn held(
    exchange: Exchange<'_>,
    entry: &AppEntry,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let shared = exchange.shared;
    let settings = &shared.settings;
    let rx = match shared.wakes.hold(
        &entry.name,
        settings.wake_retry_after,
        settings.wake_timeout,
    ) {
        Hold::Wait(rx) => rx,
        Hold::Failed(reason) => return exchange.page(Page::wake_failed(&entry.name, &reason)),
    };
    let wait = if exchange.html {
        settings.wake_page_after.min(settings.wake_timeout)
    } else {
        settings.wake_timeout
    };
    // Held is not idle: the wait is bounded by `wait`, not by the idle timeout.
    exchange.conn.watch.control_working(true);
    let woken = tokio::time::timeout(wait, rx).await;
    exchange.conn.watch.control_working(false);
    let woken = match woken {
        Ok(Ok(woken)) => woken,
        Ok(Err(_)) => Woken::Failed(Arc::from("the wake was interrupted")),
        Err(_) if exchange.html => return exchange.page(Page::waking(&entry.name)),
        Err(_) => return exchange.page(Page::wake_timed_out(&entry.name, wait)),
    };
    if let Woken::Failed(reason) = woken {
        return exchange.page(Page::wake_failed(&entry.name, &reason));
    }
    let Some(entry) = shared.table.load().app(&entry.name).cloned() else {
        return exchange.page(Page::unknown_host(&entry.name));
    };
    match &entry.route {
        AppRoute::Serving(endpoints) if !endpoints.is_empty() => {
            forward(exchange, &entry, endpoints, request).await
        }
        AppRoute::Serving(_) => {
            exchange.page(Page::unavailable(&entry.name, UnavailableReason::Unhealthy))
        }
        AppRoute::Unavailable(reason) => exchange.page(Page::unavailable(&entry.name, *reason)),
    }
}

async fn forward(
    mut exchange: Exchange<'_>,
    entry: &AppEntry,
    endpoints: &[Arc<Endpoint>],
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let settings = &exchange.shared.settings;
    let upgrade = headers::is_upgrade_request(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    headers::prepare_request(
        &mut parts.headers,
        exchange.conn,
        &exchange.line.request_id,
        upgrade,
    );
    parts.version = Version::HTTP_11;
    if parts.uri.authority().is_some()
        && let Some(path) = parts.uri.path_and_query()
    {
        parts.uri = Uri::from(path.clone());
    }
    let watch = &exchange.conn.watch;
    let upload_watch = (!body.is_end_stream()).then(|| Arc::clone(watch));
    let mut request = Request::from_parts(parts, UploadBody::new(body, upload_watch));

    let mut failed: Option<&Arc<Endpoint>> = None;
    let mut failure = ErrorCode::BackendConnectionRefused;
    // A request goes to at most two endpoints, and only while none of it was sent.
    for _ in 0..2 {
        let Some(endpoint) = balancer::pick(endpoints, &entry.cursor, failed) else {
            break;
        };
        let lease = endpoint.lease();
        exchange.line.dyno = Some(endpoint.dyno_arc());
        let mut allow_pooled = true;
        loop {
            let connect_started = Instant::now();
            let mut checkout = match upstream::checkout(endpoint, settings, allow_pooled).await {
                Ok(checkout) => checkout,
                Err(error) => {
                    tracing::debug!(app = %entry.name, dyno = endpoint.dyno(), %error, "endpoint unreachable");
                    let (code, kind) = connect_failure(&error);
                    exchange.upstream_error(kind);
                    endpoint.eject(settings.ejection);
                    failure = code;
                    failed = Some(endpoint);
                    break;
                }
            };
            exchange.line.connect = connect_started.elapsed();
            let timeout = settings.response_header_timeout;
            match upstream::send(&mut checkout.connection, request, watch).await {
                SendOutcome::Response(response) => {
                    return respond(
                        exchange,
                        response,
                        checkout.connection,
                        lease,
                        client_upgrade,
                    );
                }
                SendOutcome::NotSent(unsent) if checkout.reused => {
                    // The app closed an idle keep-alive connection; a fresh one will do.
                    request = unsent;
                    allow_pooled = false;
                }
                SendOutcome::NotSent(unsent) => {
                    request = unsent;
                    exchange.upstream_error(UpstreamErrorKind::ClosedWithoutResponse);
                    failure = ErrorCode::ConnectionClosedWithoutResponse;
                    failed = Some(endpoint);
                    break;
                }
                SendOutcome::Failed(error) => {
                    tracing::debug!(app = %entry.name, dyno = endpoint.dyno(), %error, "app dropped the request");
                    exchange.upstream_error(UpstreamErrorKind::ClosedWithoutResponse);
                    let page = Page::upstream_failure(
                        &entry.name,
                        ErrorCode::ConnectionClosedWithoutResponse,
                        timeout,
                    );
                    return exchange.page(page);
                }
                SendOutcome::TimedOut => {
                    exchange.upstream_error(UpstreamErrorKind::ResponseTimeout);
                    let page =
                        Page::upstream_failure(&entry.name, ErrorCode::RequestTimeout, timeout);
                    return exchange.page(page);
                }
            }
        }
        drop(lease);
    }
    let timeout = settings.connect_timeout;
    exchange.page(Page::upstream_failure(&entry.name, failure, timeout))
}

fn respond(
    mut exchange: Exchange<'_>,
    mut response: Response<Incoming>,
    connection: UpstreamConnection,
    lease: Lease,
    client_upgrade: Option<OnUpgrade>,
) -> Response<ProxyBody> {
    let status = response.status();
    if let Some(metrics) = &exchange.metrics {
        metrics.observe(status.as_u16(), exchange.started.elapsed());
    }
    exchange.line.status = status.as_u16();
    let shared = exchange.shared;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            // hyper cannot hand a connection over that the client never offered.
            exchange.upstream_error(UpstreamErrorKind::ClosedWithoutResponse);
            let timeout = shared.settings.response_header_timeout;
            let app = exchange.line.app.clone().unwrap_or_else(|| Arc::from(""));
            return exchange.page(Page::upstream_failure(
                &app,
                ErrorCode::ConnectionClosedWithoutResponse,
                timeout,
            ));
        };
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        let (mut parts, _) = response.into_parts();
        headers::prepare_response(&mut parts.headers, &exchange.line.request_id, true);
        exchange.line.service = exchange.started.elapsed();
        (shared.access_log)(exchange.line);
        // The request stays "in progress" for the tunnel's life, so its traffic is never
        // mistaken for a trickling request head.
        tunnel::spawn(
            exchange.conn,
            connection,
            client_upgrade,
            upstream_upgrade,
            lease,
        );
        return Response::from_parts(parts, ProxyBody::empty());
    }
    let (mut parts, body) = response.into_parts();
    headers::prepare_response(&mut parts.headers, &exchange.line.request_id, false);
    if let Some(app) = &exchange.line.app {
        shared
            .https
            .add_hsts(exchange.conn, app, &mut parts.headers);
    }
    let completion = Completion {
        shared: Arc::clone(shared),
        metrics: exchange.metrics,
        lease,
        connection: Some(connection),
        line: exchange.line,
        started: exchange.started,
        watch: Arc::clone(&exchange.conn.watch),
    };
    let body = ProxyBody::upstream(body, completion);
    Response::from_parts(parts, body)
}

/// The access line's code and the metric of a failed connect to an app.
pub(crate) fn connect_failure(error: &ConnectError) -> (ErrorCode, UpstreamErrorKind) {
    match error {
        ConnectError::TimedOut(_) => (
            ErrorCode::BackendConnectionTimeout,
            UpstreamErrorKind::ConnectTimeout,
        ),
        ConnectError::Refused(_) | ConnectError::Handshake(_) => (
            ErrorCode::BackendConnectionRefused,
            UpstreamErrorKind::ConnectRefused,
        ),
    }
}
