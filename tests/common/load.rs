//! Load through the router while something changes: a few clients in a loop on their own
//! thread, each request counted as answered (200) or failed, with when each failure
//! happened and the bodies answered; bounded in time whatever happens.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Server;

#[derive(Default)]
struct Counts {
    ok: u64,
    /// When each failed request ended, and why.
    failures: Vec<(Instant, String)>,
    /// How many times each distinct body (its first line matching `key`) was answered.
    seen: BTreeMap<String, u64>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<Counts>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a load saw.
pub struct Seen {
    pub ok: u64,
    pub failures: Vec<(Instant, String)>,
    pub seen: BTreeMap<String, u64>,
}

impl Load {
    /// `clients` clients GET `/` of `app` until `finish` (or two minutes); the line of
    /// each body that starts with `key` (when given) is counted in `seen`.
    pub fn start(server: &Server, app: &str, clients: usize, key: Option<&str>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let url = format!("{}/", server.url);
        let host = format!("{app}.localhost:{}", server.port);
        let key = key.map(str::to_owned);
        let thread = {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let _ = rustls::crypto::ring::default_provider().install_default();
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .unwrap();
                    let deadline = Instant::now() + Duration::from_secs(120);
                    let one = |_| {
                        let (client, url, host) = (client.clone(), url.clone(), host.clone());
                        let (stop, counts, key) = (stop.clone(), counts.clone(), key.clone());
                        async move {
                            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                                let answer = client.get(&url).header("Host", &host).send().await;
                                let outcome = match answer {
                                    Ok(r) if r.status() == 200 => {
                                        r.text().await.map_err(|e| e.to_string())
                                    }
                                    Ok(r) => Err(format!("status {}", r.status())),
                                    Err(e) => Err(e.to_string()),
                                };
                                let mut counts = counts.lock().unwrap();
                                match outcome {
                                    Ok(body) => {
                                        counts.ok += 1;
                                        if let Some(key) = &key
                                            && let Some(line) =
                                                body.lines().find(|l| l.starts_with(key.as_str()))
                                        {
                                            *counts.seen.entry(line.to_owned()).or_default() += 1;
                                        }
                                    }
                                    Err(why) => counts.failures.push((Instant::now(), why)),
                                }
                            }
                        }
                    };
                    futures_util::future::join_all((0..clients).map(one)).await;
                });
            })
        };
        Load {
            stop,
            counts,
            thread: Some(thread),
        }
    }

    /// Requests answered so far.
    pub fn ok(&self) -> u64 {
        self.counts.lock().unwrap().ok
    }

    /// Stops the clients and says what they saw.
    pub fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let counts = std::mem::take(&mut *self.counts.lock().unwrap());
        Seen {
            ok: counts.ok,
            failures: counts.failures,
            seen: counts.seen,
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
