//! Smart-HTTP git for `git push paas main`: `/{app}.git/info/refs` and
//! `/{app}.git/git-receive-pack`. HTTP Basic with any user name and an API token as the
//! password, as Heroku does; a 401 names the realm so git asks its credential helper.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;

use crate::domain::AppName;
use crate::git::advertisement::{self, AdvertisementError};
use crate::git::body::{ContentEncoding, ReceiveLimits};
use crate::git::receive_pack::{self, Received};
use crate::git::report::Reporter;
use crate::ops::{Actor, OpsError, Platform, apps, push, tokens};

pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/{repo}/info/refs", get(info_refs))
        .route("/{repo}/git-receive-pack", post(receive))
}

fn plain(status: StatusCode, message: impl std::fmt::Display) -> Response {
    // git prints a text/plain error body to the pusher as `remote:` lines.
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut response = plain(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"paas\""),
    );
    response
}

/// The pusher, from Basic (password = token) or Bearer credentials.
async fn authenticate(p: &Platform, headers: &HeaderMap) -> Result<Actor, Response> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("authentication required: run paas login (it sets up git), or use an API token as the password"))?;
    let token = if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| unauthorized("unreadable Basic credentials"))?;
        decoded
            .split_once(':')
            .map(|(_, t)| t.to_owned())
            .unwrap_or(decoded)
    } else if let Some(token) = value.strip_prefix("Bearer ") {
        token.to_owned()
    } else {
        return Err(unauthorized(
            "use HTTP Basic with an API token as the password",
        ));
    };
    tokens::authenticate(p, token.trim())
        .await
        .map_err(|_| unauthorized("invalid or revoked token; run paas login"))
}

/// `myapp.git` -> the app, as the pusher may see it.
async fn find_app(
    p: &Platform,
    actor: &Actor,
    repo: &str,
) -> Result<crate::store::AppRow, Response> {
    let Some(name) = repo.strip_suffix(".git") else {
        return Err(plain(
            StatusCode::NOT_FOUND,
            format!("no repository {repo}; the git URL ends in /APP.git"),
        ));
    };
    let name = AppName::parse(name).map_err(|e| plain(StatusCode::NOT_FOUND, e))?;
    apps::find(p, actor, &name).await.map_err(|e| match e {
        OpsError::AppNotFound(_) => plain(StatusCode::NOT_FOUND, e),
        other => plain(StatusCode::INTERNAL_SERVER_ERROR, other),
    })
}

async fn info_refs(
    State(p): State<Platform>,
    Path(repo): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let actor = match authenticate(&p, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let wanted = format!("service={}", advertisement::RECEIVE_PACK_SERVICE);
    if !query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == wanted)
    {
        return plain(
            StatusCode::FORBIDDEN,
            "paas accepts git push only (git-receive-pack); the app's code lives in your own repository",
        );
    }
    let app = match find_app(&p, &actor, &repo).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    match advertisement::advertise_receive_pack(p.repos.path(&app.name)).await {
        Ok(bytes) => {
            let mut response = (
                [(
                    header::CONTENT_TYPE,
                    advertisement::ADVERTISEMENT_CONTENT_TYPE,
                )],
                bytes,
            )
                .into_response();
            for (name, value) in advertisement::NO_CACHE_HEADERS {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Err(e @ AdvertisementError::NotFound(_)) => plain(StatusCode::NOT_FOUND, e),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn receive(
    State(p): State<Platform>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let actor = match authenticate(&p, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let app = match find_app(&p, &actor, &repo).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let encoding = match ContentEncoding::from_header(
        headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    ) {
        Ok(encoding) => encoding,
        Err(e) => return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, e),
    };
    let limits = ReceiveLimits {
        max_push_bytes: p.settings.max_push_bytes,
        receive_timeout: Duration::from_secs(p.settings.push_timeout),
    };
    let result_type = [(header::CONTENT_TYPE, receive_pack::RESULT_CONTENT_TYPE)];
    match receive_pack::receive(
        p.repos.path(&app.name),
        body.into_data_stream(),
        encoding,
        limits,
    )
    .await
    {
        Err(e) => plain(
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            e,
        ),
        Ok(Received::Probe) => (result_type, Body::empty()).into_response(),
        Ok(Received::Push(received)) => {
            let (reporter, stream) = Reporter::new(&received.request.capabilities);
            tokio::spawn(push::receive(p, actor, app, received, reporter));
            (result_type, Body::from_stream(stream)).into_response()
        }
    }
}
