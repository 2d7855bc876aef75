//! Health checks: a new process takes traffic only once it passed its startup checks
//! (`domain::checks`: app.json's or the CHECKS file's, each within its attempts), or by
//! default once it accepts TCP connections on $PORT (or answers 2xx/3xx on paas's
//! `healthchecks.web.path`) within `PAAS_BOOT_TIMEOUT`. One attempt of any check is
//! `attempt`, also used by the liveness and readiness monitors (`monitor.rs`).
//!
//! A check listed under a process type probes each process of that type at its own
//! address, on the check's `port` or else $PORT (5000), whatever the type.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::domain::{self, HttpProbe, Probe, ProcessChecks, Startup, Timestamp};
use crate::runtime::{InstanceState, Runtime};

/// Checks start 50 ms apart and slow down to one a second: a fast boot is seen at once (a
/// wake waits on it: docs/BENCHMARKS.md), and a slow one does not fill the app's log with
/// probe requests.
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_secs(1);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const WORKER_SETTLE: Duration = Duration::from_secs(1);

/// Why a process never became healthy, with its last output lines.
#[derive(Debug, Clone)]
pub struct Unhealthy(pub String);

/// paas's default startup check: connect (or GET `path`) within `timeout`.
struct DefaultCheck<'a> {
    pub runtime: &'a dyn Runtime,
    pub id: &'a str,
    pub dyno: &'a str,
    /// None for non-web processes: they only have to stay running.
    pub addr: Option<SocketAddr>,
    pub path: Option<&'a str>,
    pub host: &'a str,
    pub timeout: Duration,
}

impl DefaultCheck<'_> {
    async fn run(&self) -> Result<(), Unhealthy> {
        let started = Instant::now();
        let mut poll = FIRST_POLL;
        let deadline = started + self.timeout;
        let mut last_answer;
        loop {
            match self.runtime.inspect(self.id).await {
                Ok(Some(instance)) => {
                    if let InstanceState::Exited { code, oom_killed } = instance.state {
                        let why = if oom_killed {
                            format!("{} ran out of memory (exit code {code})", self.dyno)
                        } else {
                            format!("{} exited with code {code}", self.dyno)
                        };
                        return Err(with_output(self.runtime, self.id, why).await);
                    }
                }
                Ok(None) => {
                    return Err(Unhealthy(format!(
                        "{} disappeared while starting",
                        self.dyno
                    )));
                }
                Err(e) => return Err(Unhealthy(format!("{}: {e}", self.dyno))),
            }
            let Some(addr) = self.addr else {
                // A worker counts as up once it has run for a moment without exiting.
                if started.elapsed() >= WORKER_SETTLE {
                    return Ok(());
                }
                tokio::time::sleep(poll).await;
                continue;
            };
            match tokio::time::timeout(ATTEMPT_TIMEOUT, probe(addr, self.path, self.host)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(answer)) => last_answer = answer,
                Err(_) => last_answer = "the health check timed out".into(),
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "{} did not become healthy within {}s ({last_answer})",
                    self.dyno,
                    self.timeout.as_secs()
                );
                return Err(with_output(self.runtime, self.id, why).await);
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 3 / 2).min(MAX_POLL);
        }
    }
}

/// Appends the process's last output lines, so the push shows why it failed.
async fn with_output(runtime: &dyn Runtime, id: &str, why: String) -> Unhealthy {
    let lines: Vec<String> = runtime
        .logs(id, 0, false)
        .filter_map(|l| async move { l.ok().map(|l| l.text) })
        .collect()
        .await;
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(String::as_str)
        .collect();
    if tail.is_empty() {
        Unhealthy(why)
    } else {
        Unhealthy(format!("{why}: {}", tail.join(" / ")))
    }
}

impl super::Inner {
    /// Runs the startup checks of process `tracked` of `app`, running as `instance`:
    /// app.json's (each within its own attempts), or paas's default (a web process on its
    /// port, or paas's `path`, within `boot_timeout`; other types by staying up).
    pub(super) async fn check(
        &self,
        app: &str,
        instance: &crate::runtime::Instance,
        tracked: &super::instances::Tracked,
        checks: &ProcessChecks,
        boot_timeout: Duration,
    ) -> Result<(), Unhealthy> {
        let dyno = tracked.dyno();
        let host = self.host_of(app);
        let list = match &checks.startup {
            Startup::Default { path } => {
                let addr = if tracked.is_web() || path.is_some() {
                    self.runtime.endpoint(instance, super::plan::PORT)
                } else {
                    None
                };
                return DefaultCheck {
                    runtime: self.runtime.as_ref(),
                    id: &instance.id,
                    dyno: &dyno,
                    addr,
                    path: path.as_deref(),
                    host: &host,
                    timeout: boot_timeout,
                }
                .run()
                .await;
            }
            Startup::Checks(list) => list,
        };
        let target = Target {
            id: instance.id.clone(),
            ip: instance.ip,
            endpoint: self.runtime.endpoint(instance, super::plan::PORT),
            host,
        };
        let target = &target;
        let results = join_all(list.iter().map(|check| async move {
            let result = self.startup_check(target, instance.started_at, check).await;
            (check, result)
        }))
        .await;
        for (check, result) in results {
            let Err(why) = result else { continue };
            let why = format!("{dyno} failed its startup check \"{}\" ({why})", check.name);
            if check.warn {
                self.logs
                    .platform(app, "checks", format!("warning: {why}; it only warns"));
                continue;
            }
            return Err(with_output(self.runtime.as_ref(), &instance.id, why).await);
        }
        Ok(())
    }

    /// One startup check: `initialDelay` after the start, then up to `attempts` tries,
    /// `wait` apart, each within `timeout`; a process that exits fails it at once.
    async fn startup_check(
        &self,
        target: &Target,
        started_at: Option<i64>,
        check: &domain::Check,
    ) -> Result<(), String> {
        tokio::time::sleep(remaining(started_at, check.initial_delay)).await;
        if let Probe::Uptime { seconds } = check.probe {
            // Dokku's uptime check takes no attempts: it has run that long, or it has not.
            tokio::time::sleep(remaining(started_at, Duration::from_secs(seconds))).await;
            return attempt(self.runtime.as_ref(), target, check).await;
        }
        let mut last = String::new();
        for number in 1..=check.attempts {
            if let Ok(Some(instance)) = self.runtime.inspect(&target.id).await
                && let InstanceState::Exited { code, .. } = instance.state
            {
                return Err(format!("it exited with code {code}"));
            }
            match tokio::time::timeout(check.timeout, attempt(self.runtime.as_ref(), target, check))
                .await
            {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(answer)) => last = answer,
                Err(_) => last = format!("no answer within {}s", check.timeout.as_secs()),
            }
            if number < check.attempts {
                tokio::time::sleep(check.wait).await;
            }
        }
        Err(format!("{last}; {} attempts", check.attempts))
    }

    /// `app`'s own host name, the Host of HTTP checks.
    pub(super) fn host_of(&self, app: &str) -> String {
        format!("{app}.{}", self.settings.domain)
    }
}

/// The process a check probes.
pub(super) struct Target {
    pub id: String,
    pub ip: Option<IpAddr>,
    /// Where its `PORT` is reached (on a swarm, not at `ip`).
    pub endpoint: Option<SocketAddr>,
    pub host: String,
}

/// What is left of `delay` counted from `started_at` (unix seconds).
pub(super) fn remaining(started_at: Option<i64>, delay: Duration) -> Duration {
    let ran = started_at.map_or(0, |t| (Timestamp::now().0 - t).max(0) as u64);
    delay.saturating_sub(Duration::from_secs(ran))
}

/// One attempt of `check` on `target`: what it answered when it fails.
pub(super) async fn attempt(
    runtime: &dyn Runtime,
    target: &Target,
    check: &domain::Check,
) -> Result<(), String> {
    let addr = |port: Option<u16>| {
        let port = port.unwrap_or(super::plan::PORT);
        let own = match target.endpoint {
            Some(endpoint) if port == super::plan::PORT => Some(endpoint),
            _ => target.ip.map(|ip| SocketAddr::new(ip, port)),
        };
        own.ok_or_else(|| "the process has no address".to_owned())
    };
    match &check.probe {
        Probe::Http(http) => get(addr(http.port)?, http, &target.host).await,
        Probe::Listening { port } => {
            let addr = addr(*port)?;
            TcpStream::connect(addr)
                .await
                .map(drop)
                .map_err(|e| format!("nothing accepts connections on port {}: {e}", addr.port()))
        }
        Probe::Uptime { .. } => match runtime.inspect(&target.id).await {
            Ok(Some(instance)) => match instance.state {
                InstanceState::Exited { code, .. } => Err(format!("it exited with code {code}")),
                _ => Ok(()),
            },
            Ok(None) => Err("the process is gone".into()),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// paas's default check: connects, and with a path, needs a 2xx/3xx answer to a GET.
async fn probe(addr: SocketAddr, path: Option<&str>, host: &str) -> Result<(), String> {
    let Some(path) = path else {
        return TcpStream::connect(addr)
            .await
            .map(drop)
            .map_err(|e| format!("connection to port {}: {e}", addr.port()));
    };
    let http = HttpProbe {
        path: path.to_owned(),
        port: None,
        content: None,
        headers: Vec::new(),
    };
    get(addr, &http, host).await
}

/// Answers above this are cut: `content` is looked for in the first MiB.
const MAX_BODY: usize = 1 << 20;

/// A GET of the check's path: 2xx/3xx, and its `content` in the body.
async fn get(addr: SocketAddr, http: &HttpProbe, host: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connection to port {}: {e}", addr.port()))?;
    let own_host = http
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"));
    let mut request = format!("GET {} HTTP/1.1\r\n", http.path);
    if !own_host {
        request.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in &http.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("User-Agent: paas-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the check: {e}"))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer to GET {}: {e}", http.path))?;
        answer.extend_from_slice(&chunk[..n]);
        if n == 0 || answer.len() > MAX_BODY || complete(&answer) {
            break;
        }
    }
    let status =
        parse_status(&answer).ok_or_else(|| format!("no HTTP answer on GET {}", http.path))?;
    if !(200..400).contains(&status) {
        return Err(format!("GET {} answered {status}", http.path));
    }
    if let Some(content) = &http.content
        && !contains(&body(&answer), content.as_bytes())
    {
        return Err(format!(
            "GET {} answered {status}, but the body did not contain \"{content}\"",
            http.path
        ));
    }
    Ok(())
}

/// Whether a response with a `Content-Length` has all of its body.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = find(answer, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|length| answer.len() >= end + 4 + length)
}

/// The body of a response, chunked transfer coding undone.
fn body(answer: &[u8]) -> Vec<u8> {
    let Some(end) = find(answer, b"\r\n\r\n") else {
        return Vec::new();
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let rest = &answer[end + 4..];
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    if !chunked {
        return rest.to_vec();
    }
    let (mut out, mut at) = (Vec::new(), 0);
    while let Some(line_end) = find(&rest[at..], b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[at..at + line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        let start = at + line_end + 2;
        if size == 0 || start >= rest.len() {
            break;
        }
        let stop = (start + size).min(rest.len());
        out.extend_from_slice(&rest[start..stop]);
        at = stop + 2;
        if at >= rest.len() {
            break;
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || find(haystack, needle).is_some()
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head).ok()?;
    let mut parts = text.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 302 Found"), Some(302));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[tokio::test]
    async fn a_probe_with_a_path_needs_a_2xx_or_3xx_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for status in ["200 OK", "500 Internal Server Error"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        assert!(probe(addr, Some("/healthz"), "x.localhost").await.is_ok());
        let err = probe(addr, Some("/healthz"), "x.localhost")
            .await
            .unwrap_err();
        assert!(err.contains("500"), "{err}");
    }

    #[tokio::test]
    async fn content_is_looked_for_in_the_body_chunked_or_not_with_the_checks_headers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let replies = [
                "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nall healthy\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nall \r\n8\r\nhealthy\n\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstarting\n",
            ];
            for reply in replies {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = socket.read(&mut buf).await.unwrap();
                seen_tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .unwrap();
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let http = HttpProbe {
            path: "/up".into(),
            port: None,
            content: Some("healthy".into()),
            headers: vec![("Host".into(), "admin.example.com".into())],
        };
        get(addr, &http, "x.localhost").await.unwrap();
        let request = seen.recv().await.unwrap();
        assert!(request.starts_with("GET /up HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Host: admin.example.com\r\n"), "{request}");
        assert!(
            !request.contains("x.localhost"),
            "one Host header: {request}"
        );
        get(addr, &http, "x.localhost").await.unwrap();
        let err = get(addr, &http, "x.localhost").await.unwrap_err();
        assert_eq!(
            err,
            "GET /up answered 200, but the body did not contain \"healthy\""
        );
    }

    #[test]
    fn what_is_left_of_a_delay_counts_from_the_start() {
        let now = Timestamp::now().0;
        assert_eq!(
            remaining(Some(now - 3), Duration::from_secs(5)).as_secs(),
            2
        );
        assert_eq!(
            remaining(Some(now - 10), Duration::from_secs(5)),
            Duration::ZERO
        );
        assert_eq!(
            remaining(None, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }
}
