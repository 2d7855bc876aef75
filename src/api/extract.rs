//! Request extractors with errors users can act on: the bearer-token `Actor`, JSON bodies,
//! and app names from the path.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::domain::AppName;
use crate::ops::{Actor, Platform, tokens};

use super::error::ApiError;

/// Largest JSON body the API reads: well above the 64 KiB config cap.
const MAX_JSON_BYTES: usize = 1024 * 1024;

impl FromRequestParts<Platform> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, p: &Platform) -> Result<Self, ApiError> {
        Ok(tokens::authenticate(p, bearer_token(&parts.headers)?).await?)
    }
}

/// `?wait=false` (the CLI's `--no-wait`): hand the change over and answer at once, the
/// release still pending; by default the answer comes when the change is done.
pub struct Waiting(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Waiting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        for pair in query.split('&') {
            match pair {
                "wait=false" | "wait=0" => return Ok(Waiting(false)),
                "wait=true" | "wait=1" | "wait" => return Ok(Waiting(true)),
                p if p.starts_with("wait=") => {
                    return Err(ApiError::bad_request("wait takes true or false"));
                }
                _ => {}
            }
        }
        Ok(Waiting(true))
    }
}

/// The token of `Authorization: Bearer TOKEN`; streams keep it to watch their access.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("not logged in; run paas login"))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("send the token as Authorization: Bearer TOKEN; run paas login")
        })
}

/// A JSON body whose errors say what was wrong with it.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BYTES)
            .await
            .map_err(|_| ApiError::bad_request("request body is too large or was cut off"))?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// Parses `{app}` from the path.
pub fn app_name(raw: &str) -> Result<AppName, ApiError> {
    Ok(AppName::parse(raw)?)
}
