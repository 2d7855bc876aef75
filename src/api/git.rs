//! Smart-HTTP git for `git push paas main`: `/{app}.git/info/refs` and
//! `/{app}.git/git-receive-pack`. HTTP Basic with any user name and an API token as the
//! password, as Heroku does; a 401 names the realm so git asks its credential helper.
//! Thin handlers: the protocol work (advertisement, receive-pack, the deploy's report) is
//! `ops::git`; errors leave as text/plain, which git shows the pusher as `remote:` lines.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;

use crate::ops::git::{self, GitError, Receipt};
use crate::ops::{Actor, OpsError, Platform, tokens};

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

/// The status of a refused git request; an app the pusher cannot see is a 404 like one
/// that does not exist.
fn refused(e: GitError) -> Response {
    let status = match &e {
        GitError::OnlyReceivePack => StatusCode::FORBIDDEN,
        GitError::NotARepository(_)
        | GitError::AppName(_)
        | GitError::App(OpsError::AppNotFound(_))
        | GitError::MissingRepository(_) => StatusCode::NOT_FOUND,
        GitError::App(_) | GitError::Advertisement(_) => StatusCode::INTERNAL_SERVER_ERROR,
        GitError::Encoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        GitError::Receive(e) => {
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
        }
    };
    plain(status, e)
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
    match git::advertise(&p, &actor, &repo, query.as_deref()).await {
        Ok(bytes) => {
            let mut response = (
                [(header::CONTENT_TYPE, git::ADVERTISEMENT_CONTENT_TYPE)],
                bytes,
            )
                .into_response();
            for (name, value) in git::NO_CACHE_HEADERS {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Err(e) => refused(e),
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
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let result_type = [(header::CONTENT_TYPE, git::RESULT_CONTENT_TYPE)];
    match git::receive(p, actor, &repo, encoding, body.into_data_stream()).await {
        Ok(Receipt::Probe) => (result_type, Body::empty()).into_response(),
        Ok(Receipt::Report(stream)) => (result_type, Body::from_stream(stream)).into_response(),
        Err(e) => refused(e),
    }
}
