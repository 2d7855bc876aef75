//! Logs: the recent lines as a plain page (enough without JavaScript), and the same
//! stream live as server-sent events, which `paas.js` appends as they come. The live
//! stream ends when the session's access to the app does (sign-out, removal, expiry).

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::Timestamp;
use crate::logs::{LogEntry, LogFilter, Source};
use crate::ops::grants::Grant;
use crate::ops::{self, Platform};

use super::apps::{AppHead, load, parse_name};
use super::cookies::Cookie;
use super::error::WebError;
use super::extract::Ctx;
use super::view::{Layout, Nav};

/// Lines the page shows before following.
const HISTORY_LINES: usize = 300;

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    ps: String,
    #[serde(default)]
    source: String,
}

impl LogQuery {
    fn filter(&self) -> LogFilter {
        LogFilter {
            dyno: Some(self.ps.trim().to_owned()).filter(|p| !p.is_empty()),
            source: match self.source.as_str() {
                "app" => Some(Source::App),
                "paas" => Some(Source::Paas),
                "cron" => Some(Source::Cron),
                _ => None,
            },
        }
    }
}

/// One line as the page and the event stream both show it.
#[derive(Serialize)]
struct Line {
    iso: String,
    time: String,
    /// `app[web.1]` or `paas[router]`
    origin: String,
    /// app or paas, for colour next to the words
    source: &'static str,
    text: String,
}

impl Line {
    fn of(entry: &LogEntry) -> Line {
        let iso = Timestamp(entry.at).rfc3339();
        let source = match entry.source {
            Source::App => "app",
            Source::Paas => "paas",
            Source::Addon => "addon",
            Source::Cron => "cron",
        };
        Line {
            time: iso.get(11..19).unwrap_or(&iso).to_owned(),
            origin: format!("{source}[{}]", entry.dyno),
            source,
            text: entry.text.replace(['\n', '\r'], " "),
            iso,
        }
    }
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "app_logs.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    lines: Vec<Line>,
    processes: Vec<Choice>,
    sources: Vec<Choice>,
    stream_url: String,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Query(q): Query<LogQuery>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "logs").await?;
    let view = ops::logs::view(&p, &actor, &name, HISTORY_LINES, q.filter(), false).await?;
    let formation = ops::ps::formation(&p, &actor, &name).await?;
    let running = ops::ps::processes(&p, &actor, &name).await?;
    let mut names: Vec<String> = formation.into_iter().map(|f| f.process_type).collect();
    let mut dynos: Vec<String> = running.into_iter().map(|p| p.dyno).collect();
    dynos.sort();
    names.append(&mut dynos);
    names.dedup();
    let mut processes = vec![Choice {
        value: String::new(),
        label: "all processes".into(),
        selected: q.ps.is_empty(),
    }];
    processes.extend(names.into_iter().map(|n| Choice {
        selected: n == q.ps,
        label: n.clone(),
        value: n,
    }));
    if !q.ps.is_empty() && !processes.iter().any(|c| c.selected) {
        processes.push(Choice {
            value: q.ps.clone(),
            label: q.ps.clone(),
            selected: true,
        });
    }
    let sources = [
        ("", "app and platform"),
        ("app", "app output only"),
        ("paas", "platform only"),
        ("cron", "cron jobs only"),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value: value.into(),
        label: label.into(),
        selected: q.source == value,
    })
    .collect();
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · logs")),
        lines: view.history.iter().map(Line::of).collect(),
        stream_url: format!(
            "/apps/{name}/logs/stream?ps={}&source={}",
            super::session::query_escape(&q.ps),
            super::session::query_escape(&q.source)
        ),
        app: head,
        processes,
        sources,
    };
    Ok(ctx.page(page))
}

/// `text/event-stream`: one `line` event (JSON of `Line`) per new log line.
pub async fn stream(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Query(q): Query<LogQuery>,
    headers: axum::http::HeaderMap,
    ctx: Ctx,
) -> Result<Response, WebError> {
    let name = parse_name(&app)?;
    let filter = q.filter();
    let secret = Cookie::Session
        .read(&headers, ctx.client.secure)
        .unwrap_or_default();
    let grant = Grant::of_session(&p, &secret, &ctx.session, &name).await?;
    let view = ops::logs::view(&p, ctx.actor(), &name, 0, filter.clone(), true).await?;
    let Some(live) = view.live else {
        return Err(WebError::NotFound("this log cannot be followed".into()));
    };
    let events = live_events(live, filter).take_until(grant.lost(p));
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies in front of paas must pass lines on at once.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

fn live_events(
    live: tokio::sync::broadcast::Receiver<LogEntry>,
    filter: LogFilter,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(live, |mut rx| async move {
        match rx.recv().await {
            Ok(entry) => Some((Ok(entry), rx)),
            Err(RecvError::Lagged(skipped)) => Some((Err(skipped), rx)),
            Err(RecvError::Closed) => None,
        }
    })
    .filter(move |item| std::future::ready(item.as_ref().map_or(true, |e| filter.matches(e))))
    .map(|item| {
        Ok(match item {
            Ok(entry) => Event::default()
                .event("line")
                .json_data(Line::of(&entry))
                .unwrap_or_else(|_| Event::default().comment("unencodable line")),
            Err(skipped) => Event::default()
                .event("skipped")
                .data(format!("{skipped} lines skipped: this browser fell behind")),
        })
    })
}
