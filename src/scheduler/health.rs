//! Health checks: a new web process takes traffic only once it accepts TCP connections
//! on $PORT, or answers 2xx/3xx on the app.json health path.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::{InstanceState, Runtime};

/// Checks start 200 ms apart and slow down to one a second: a fast boot is seen at once,
/// and a slow one does not fill the app's log with probe requests.
const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(1);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const WORKER_SETTLE: Duration = Duration::from_secs(1);

/// Why a process never became healthy, with its last output lines.
#[derive(Debug, Clone)]
pub struct Unhealthy(pub String);

struct Check<'a> {
    pub runtime: &'a dyn Runtime,
    pub id: &'a str,
    pub dyno: &'a str,
    /// None for non-web processes: they only have to stay running.
    pub addr: Option<SocketAddr>,
    pub path: Option<&'a str>,
    pub host: &'a str,
    pub timeout: Duration,
}

impl Check<'_> {
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
                        return Err(self.with_output(why).await);
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
                return Err(self.with_output(why).await);
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 3 / 2).min(MAX_POLL);
        }
    }

    /// Appends the process's last output lines, so the push shows why it failed.
    async fn with_output(&self, why: String) -> Unhealthy {
        let lines: Vec<String> = self
            .runtime
            .logs(self.id, 0, false)
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
}

impl super::Inner {
    /// Checks process `tracked` of `app`, running as `instance`: web processes on their
    /// port (and the app.json path), other types by staying up.
    pub(super) async fn check(
        &self,
        app: &str,
        instance: &crate::runtime::Instance,
        tracked: &super::instances::Tracked,
        path: Option<&str>,
        timeout: Duration,
    ) -> Result<(), Unhealthy> {
        let dyno = tracked.dyno();
        let host = format!("{app}.{}", self.settings.domain);
        let addr = if tracked.is_web() {
            self.runtime.endpoint(instance, super::plan::PORT)
        } else {
            None
        };
        Check {
            runtime: self.runtime.as_ref(),
            id: &instance.id,
            dyno: &dyno,
            addr,
            path,
            host: &host,
            timeout,
        }
        .run()
        .await
    }
}

/// Connects, and with a path, sends one GET and reads the status line.
async fn probe(addr: SocketAddr, path: Option<&str>, host: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connection to port {}: {e}", addr.port()))?;
    let Some(path) = path else {
        return Ok(());
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: paas-health-check\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the health check: {e}"))?;
    let mut head = vec![0u8; 64];
    let n = stream
        .read(&mut head)
        .await
        .map_err(|e| format!("reading the health check answer: {e}"))?;
    let status = parse_status(&head[..n]).ok_or_else(|| format!("no HTTP answer on {path}"))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("{path} answered {status}"))
    }
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
}
