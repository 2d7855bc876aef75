//! Health checks as paas runs them: app.json's `healthchecks` (Dokku's list of checks, or
//! paas's own `{"path": ...}`) and Dokku's older `CHECKS` file (`checks_file.rs`), resolved into one validated
//! policy per process type with Dokku's defaults. Pure: the scheduler carries it out.
//!
//! Dokku's defaults: `type` startup, `attempts` 3, `timeout` 5 s, `wait` 5 s,
//! `initialDelay` 0, `port` the one the process listens on ($PORT); a check with a `path`
//! is an HTTP GET needing 2xx/3xx (and `content` in the body), `listening` a TCP connect,
//! `uptime` N seconds of running, none of them "still running". As in Dokku, 0 for
//! `attempts`, `timeout` or `wait` means the default.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::app_json::{AppJson, DokkuCheck, Healthchecks, HttpHeader};

const DEFAULT_ATTEMPTS: i64 = 3;
const DEFAULT_TIMEOUT: i64 = 5;
const DEFAULT_WAIT: i64 = 5;
pub(super) const MAX_ATTEMPTS: i64 = 100;
pub(super) const MAX_TIMEOUT: i64 = 600;
pub(super) const MAX_SECONDS: i64 = 3600;
const MAX_NAME: usize = 100;

/// Why a check was refused, naming it and saying what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksError {
    #[error("app.json healthchecks.{process_type}[{index}]{}: {problem}", named(.name))]
    Check {
        process_type: String,
        index: usize,
        name: Option<String>,
        problem: String,
    },
    #[error("app.json healthchecks.{process_type}.path: {problem}")]
    Path {
        process_type: String,
        problem: String,
    },
    #[error("CHECKS line {line}: {problem}")]
    File { line: usize, problem: String },
}

fn named(name: &Option<String>) -> String {
    name.as_ref()
        .map(|n| format!(" (\"{n}\")"))
        .unwrap_or_default()
}

/// When a check runs, and what its failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// Before a new process is routed: a failure fails the release (or the restart).
    Startup,
    /// For the life of an up process: `attempts` failures in a row restart it.
    Liveness,
    /// For the life of an up process: `attempts` failures in a row take it out of the
    /// route table (even the last one: the router answers 503), one pass puts it back.
    Readiness,
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckKind::Startup => "startup",
            CheckKind::Liveness => "liveness",
            CheckKind::Readiness => "readiness",
        })
    }
}

/// What one attempt does. A `port` of None is the port the process listens on ($PORT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// GET `path`: 2xx or 3xx, and `content` in the body when given.
    Http(HttpProbe),
    /// A TCP connection is accepted (Dokku's `listening`).
    Listening { port: Option<u16> },
    /// The process has run this long and still runs (Dokku's `uptime`; 0: it runs).
    Uptime { seconds: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    pub path: String,
    pub port: Option<u16>,
    pub content: Option<String>,
    /// Sent as given; a `Host` here replaces the app's own host name.
    pub headers: Vec<(String, String)>,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Http(http) => match http.port {
                Some(port) => write!(f, "GET {} on port {port}", http.path),
                None => write!(f, "GET {}", http.path),
            },
            Probe::Listening { port: Some(port) } => write!(f, "listening on port {port}"),
            Probe::Listening { port: None } => f.write_str("listening on $PORT"),
            Probe::Uptime { seconds: 0 } => f.write_str("running"),
            Probe::Uptime { seconds } => write!(f, "running for {seconds}s"),
        }
    }
}

/// One resolved check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The check's `name`, or what it probes (`GET /alive`).
    pub name: String,
    pub kind: CheckKind,
    pub probe: Probe,
    pub attempts: u32,
    /// Each attempt's limit.
    pub timeout: Duration,
    /// Between attempts (startup), or between checks (liveness, readiness).
    pub wait: Duration,
    /// After the process started, before the first attempt.
    pub initial_delay: Duration,
    /// Dokku's `warn`: a failure is logged and changes nothing.
    pub warn: bool,
}

/// What a process must pass before it is routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// No startup check listed: a web process must accept connections on $PORT (or
    /// answer 2xx/3xx on `path`, paas's own form) within `PAAS_BOOT_TIMEOUT`; a process
    /// of another type must keep running (with `path`, also answer it on $PORT).
    Default { path: Option<String> },
    /// Every one of these must pass, each within its own attempts.
    Checks(Vec<Check>),
}

/// The checks of one process type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessChecks {
    pub startup: Startup,
    pub liveness: Vec<Check>,
    pub readiness: Vec<Check>,
}

impl Default for ProcessChecks {
    fn default() -> Self {
        ProcessChecks {
            startup: Startup::Default { path: None },
            liveness: Vec::new(),
            readiness: Vec::new(),
        }
    }
}

impl ProcessChecks {
    /// The checks that watch an up process for its whole life.
    pub fn watching(&self) -> impl Iterator<Item = &Check> {
        self.liveness.iter().chain(&self.readiness)
    }
}

/// Every process type's checks. Checks listed under a type the Procfile does not have
/// are kept and never used, as Dokku does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    by_type: BTreeMap<String, ProcessChecks>,
}

impl Checks {
    pub fn resolve(app_json: &AppJson) -> Result<Checks, ChecksError> {
        let by_type = app_json
            .healthchecks
            .iter()
            .map(|(process_type, checks)| {
                resolve_type(process_type, checks).map(|c| (process_type.clone(), c))
            })
            .collect::<Result<_, _>>()?;
        Ok(Checks { by_type })
    }

    /// The checks of `process_type` (paas's defaults when none are listed).
    pub fn of(&self, process_type: &str) -> ProcessChecks {
        self.by_type.get(process_type).cloned().unwrap_or_default()
    }
}

fn resolve_type(process_type: &str, checks: &Healthchecks) -> Result<ProcessChecks, ChecksError> {
    match checks {
        Healthchecks::Single(spec) => {
            let path = match spec.path.as_deref() {
                Some(path) => Some(valid_path(path).map_err(|problem| ChecksError::Path {
                    process_type: process_type.to_owned(),
                    problem,
                })?),
                None => None,
            };
            Ok(ProcessChecks {
                startup: Startup::Default { path },
                ..ProcessChecks::default()
            })
        }
        Healthchecks::Dokku(list) => {
            let mut resolved = ProcessChecks::default();
            let mut startup = Vec::new();
            for (index, raw) in list.iter().enumerate() {
                let check = resolve_check(raw).map_err(|problem| ChecksError::Check {
                    process_type: process_type.to_owned(),
                    index,
                    name: raw.name.clone().filter(|n| valid_name(n).is_ok()),
                    problem,
                })?;
                match check.kind {
                    CheckKind::Startup => startup.push(check),
                    CheckKind::Liveness => resolved.liveness.push(check),
                    CheckKind::Readiness => resolved.readiness.push(check),
                }
            }
            if !startup.is_empty() {
                resolved.startup = Startup::Checks(startup);
            }
            Ok(resolved)
        }
    }
}

fn resolve_check(raw: &DokkuCheck) -> Result<Check, String> {
    let kind = match raw.kind.as_deref() {
        None | Some("startup") => CheckKind::Startup,
        Some("liveness") => CheckKind::Liveness,
        Some("readiness") => CheckKind::Readiness,
        Some(other) => {
            return Err(format!(
                "type \"{other}\" is not one of startup, liveness, readiness"
            ));
        }
    };
    if raw.command.is_some() {
        return Err(
            "command checks (run inside the container) are not supported; \
                    check a path, a port (listening) or the uptime instead"
                .into(),
        );
    }
    if raw.on_failure.is_some() {
        return Err(
            "onFailure is not supported: paas runs no host command or webhook for a check; \
             remove it (failures show in paas logs)"
                .into(),
        );
    }
    match raw
        .scheme
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("http") => {}
        Some("https") => {
            return Err(
                "scheme https is not supported: processes serve plain HTTP on \
                        $PORT and the router terminates TLS; remove scheme"
                    .into(),
            );
        }
        Some(other) => return Err(format!("scheme \"{other}\" must be http")),
    }
    let listening = raw.listening.unwrap_or(false);
    let uptime = seconds(raw.uptime, "uptime", 0, MAX_SECONDS)?;
    let strategies = [raw.path.is_some(), listening, uptime > 0];
    if strategies.iter().filter(|s| **s).count() > 1 {
        return Err("path, listening and uptime are different checks; give one of them".into());
    }
    if raw.content.is_some() && raw.path.is_none() {
        return Err("content is looked for in the answer to a path; add a path".into());
    }
    if !raw.http_headers.is_empty() && raw.path.is_none() {
        return Err("httpHeaders are sent with a path check; add a path".into());
    }
    let port = match raw.port {
        None => None,
        Some(port) => Some(
            u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or("port must be 1 to 65535")?,
        ),
    };
    let probe = match &raw.path {
        Some(path) => Probe::Http(HttpProbe {
            path: valid_path(path)?,
            port,
            content: match raw.content.as_deref() {
                Some("") | None => None,
                Some(content) => Some(content.to_owned()),
            },
            headers: raw
                .http_headers
                .iter()
                .map(valid_header)
                .collect::<Result<_, _>>()?,
        }),
        None if listening => Probe::Listening { port },
        None => Probe::Uptime { seconds: uptime },
    };
    let name = match &raw.name {
        Some(name) => valid_name(name)?,
        None => probe.to_string(),
    };
    let attempts = match raw.attempts {
        None | Some(0) => DEFAULT_ATTEMPTS,
        Some(n) if (1..=MAX_ATTEMPTS).contains(&n) => n,
        Some(_) => return Err(format!("attempts must be 1 to {MAX_ATTEMPTS}")),
    };
    Ok(Check {
        name,
        kind,
        probe,
        attempts: attempts as u32,
        timeout: Duration::from_secs(seconds(
            raw.timeout,
            "timeout",
            DEFAULT_TIMEOUT,
            MAX_TIMEOUT,
        )?),
        wait: Duration::from_secs(seconds(raw.wait, "wait", DEFAULT_WAIT, MAX_SECONDS)?),
        initial_delay: Duration::from_secs(seconds(
            raw.initial_delay,
            "initialDelay",
            0,
            MAX_SECONDS,
        )?),
        warn: raw.warn.unwrap_or(false),
    })
}

/// Seconds in `1..=max`, with 0 (or nothing) meaning `default`, as Dokku reads them.
fn seconds(value: Option<i64>, field: &str, default: i64, max: i64) -> Result<u64, String> {
    match value {
        None | Some(0) => Ok(default as u64),
        Some(n) if (1..=max).contains(&n) => Ok(n as u64),
        Some(_) => Err(format!("{field} must be 0 to {max} seconds")),
    }
}

/// A path goes into the request line as written: `/`-rooted, printable, no spaces.
pub(super) fn valid_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("path \"{path}\" must start with /"));
    }
    if path.len() > 2048 || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("path must be at most 2048 characters without spaces".into());
    }
    Ok(path.to_owned())
}

fn valid_name(name: &str) -> Result<String, String> {
    if name.trim().is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!(
            "name must be 1 to {MAX_NAME} characters on one line"
        ));
    }
    Ok(name.to_owned())
}

/// Headers go into the request as written, so nothing may end a line early.
fn valid_header(header: &HttpHeader) -> Result<(String, String), String> {
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if header.name.is_empty() || !header.name.chars().all(token) {
        return Err(format!(
            "header name \"{}\" must be a plain HTTP header name",
            header.name.escape_default()
        ));
    }
    if header.value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "header {} has a control character in its value",
            header.name
        ));
    }
    Ok((header.name.clone(), header.value.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(json: &str) -> Result<Checks, ChecksError> {
        Checks::resolve(&AppJson::parse(json).unwrap())
    }

    fn one_web(check: &str) -> Result<Checks, ChecksError> {
        resolve(&format!(r#"{{"healthchecks":{{"web":[{check}]}}}}"#))
    }

    #[test]
    fn a_dokku_check_gets_dokkus_defaults() {
        let checks = one_web(r#"{"path": "/ready"}"#).unwrap().of("web");
        let Startup::Checks(startup) = checks.startup else {
            panic!("a check without type is a startup check");
        };
        assert_eq!(
            startup,
            [Check {
                name: "GET /ready".into(),
                kind: CheckKind::Startup,
                probe: Probe::Http(HttpProbe {
                    path: "/ready".into(),
                    port: None,
                    content: None,
                    headers: vec![],
                }),
                attempts: 3,
                timeout: Duration::from_secs(5),
                wait: Duration::from_secs(5),
                initial_delay: Duration::ZERO,
                warn: false,
            }]
        );
        // As Dokku reads them, zeros are the defaults too.
        let zeros = one_web(r#"{"path": "/", "attempts": 0, "wait": 0, "timeout": 0}"#)
            .unwrap()
            .of("web");
        assert_eq!(
            zeros.startup,
            one_web(r#"{"path": "/"}"#).unwrap().of("web").startup
        );
    }

    #[test]
    fn every_field_is_read_and_sorted_by_type() {
        let checks = resolve(
            r#"{"healthchecks":{"web":[
                {"type":"liveness","name":"alive","path":"/alive","attempts":2,"wait":1,
                 "timeout":1,"initialDelay":4,"port":8080,"warn":true,
                 "httpHeaders":[{"name":"X-Forwarded-Proto","value":"https"}]},
                {"type":"readiness","listening":true},
                {"type":"startup","uptime":10,"scheme":"HTTP"},
                {"path":"/ready","content":"ok"}
            ]}}"#,
        )
        .unwrap()
        .of("web");
        let alive = &checks.liveness[0];
        assert_eq!(alive.name, "alive");
        assert_eq!((alive.attempts, alive.warn), (2, true));
        assert_eq!(alive.initial_delay, Duration::from_secs(4));
        assert_eq!(
            alive.probe,
            Probe::Http(HttpProbe {
                path: "/alive".into(),
                port: Some(8080),
                content: None,
                headers: vec![("X-Forwarded-Proto".into(), "https".into())],
            })
        );
        assert_eq!(checks.readiness[0].probe, Probe::Listening { port: None });
        assert_eq!(checks.readiness[0].name, "listening on $PORT");
        let Startup::Checks(startup) = &checks.startup else {
            panic!("two startup checks")
        };
        assert_eq!(startup[0].probe, Probe::Uptime { seconds: 10 });
        assert!(matches!(&startup[1].probe, Probe::Http(h) if h.content.as_deref() == Some("ok")));
        assert_eq!(checks.watching().count(), 2);
    }

    #[test]
    fn paas_own_form_keeps_the_default_gate_with_a_path() {
        let checks = resolve(r#"{"healthchecks":{"web":{"path":"/healthz"}}}"#).unwrap();
        assert_eq!(
            checks.of("web").startup,
            Startup::Default {
                path: Some("/healthz".into())
            }
        );
        assert_eq!(checks.of("worker"), ProcessChecks::default());
        let bad = resolve(r#"{"healthchecks":{"web":{"path":"healthz"}}}"#).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "app.json healthchecks.web.path: path \"healthz\" must start with /"
        );
        // Only liveness listed: the default startup gate stays.
        let live = one_web(r#"{"type":"liveness","path":"/alive"}"#).unwrap();
        assert_eq!(live.of("web").startup, Startup::Default { path: None });
    }

    #[test]
    fn bad_values_are_refused_naming_the_check() {
        let cases = [
            (
                r#"{"path":"/","attempts":101}"#,
                "attempts must be 1 to 100",
            ),
            (r#"{"path":"/","attempts":-1}"#, "attempts must be 1 to 100"),
            (
                r#"{"path":"/","timeout":601}"#,
                "timeout must be 0 to 600 seconds",
            ),
            (
                r#"{"path":"/","wait":-5}"#,
                "wait must be 0 to 3600 seconds",
            ),
            (
                r#"{"path":"/","initialDelay":4000}"#,
                "initialDelay must be 0 to 3600",
            ),
            (r#"{"path":"/","port":70000}"#, "port must be 1 to 65535"),
            (
                r#"{"type":"sometimes"}"#,
                "is not one of startup, liveness, readiness",
            ),
            (r#"{"command":["/app/check.sh"]}"#, "command checks"),
            (
                r#"{"path":"/","scheme":"https"}"#,
                "scheme https is not supported",
            ),
            (r#"{"path":"/","scheme":"ftp"}"#, "must be http"),
            (r#"{"path":"/","uptime":3}"#, "give one of them"),
            (r#"{"listening":true,"uptime":3}"#, "give one of them"),
            (r#"{"content":"ok"}"#, "add a path"),
            (r#"{"path":"/a b"}"#, "without spaces"),
            (
                r#"{"path":"/","onFailure":{"url":"http://x"}}"#,
                "onFailure",
            ),
            (
                r#"{"path":"/","httpHeaders":[{"name":"X","value":"a\r\nEvil: 1"}]}"#,
                "control character",
            ),
            (
                r#"{"path":"/","httpHeaders":[{"name":"Bad Name","value":"1"}]}"#,
                "plain HTTP header name",
            ),
        ];
        for (check, problem) in cases {
            let err = one_web(check).unwrap_err().to_string();
            assert!(err.starts_with("app.json healthchecks.web[0]: "), "{err}");
            assert!(err.contains(problem), "{check}: {err}");
        }
        let second = resolve(
            r#"{"healthchecks":{"worker":[{"uptime":1},{"name":"slow","path":"/","attempts":500}]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            second.to_string(),
            "app.json healthchecks.worker[1] (\"slow\"): attempts must be 1 to 100"
        );
    }
}
