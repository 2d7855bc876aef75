//! `Endpoint`: one running web process the router can send requests to, shared as an `Arc`
//! across route-table snapshots so its in-flight count, ejection state and idle connections
//! survive swaps. The scheduler reads `in_flight()` / `wait_drained()` to know when an old
//! container may be stopped. Does not pick endpoints (balancer.rs) or speak HTTP (upstream.rs).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::upstream::ConnectionPool;

/// One web process (container) serving an app, e.g. `web.2` at `172.18.0.5:5000`.
pub struct Endpoint {
    addr: SocketAddr,
    dyno: Arc<str>,
    in_flight: AtomicUsize,
    /// Callers of `wait_drained`; lets the hot path skip `Notify` (a mutex) when nobody waits.
    drain_waiters: AtomicUsize,
    drained: Notify,
    /// Milliseconds on the router clock until which the endpoint is out of rotation; 0 = never.
    ejected_until_ms: AtomicU64,
    pub(crate) pool: ConnectionPool,
}

impl Endpoint {
    /// A new endpoint with nothing in flight.
    pub fn new(addr: SocketAddr, dyno: impl Into<Arc<str>>) -> Arc<Self> {
        Arc::new(Self {
            addr,
            dyno: dyno.into(),
            in_flight: AtomicUsize::new(0),
            drain_waiters: AtomicUsize::new(0),
            drained: Notify::new(),
            ejected_until_ms: AtomicU64::new(0),
            pool: ConnectionPool::default(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process name shown in access lines, e.g. `web.2`.
    pub fn dyno(&self) -> &str {
        &self.dyno
    }

    pub(crate) fn dyno_arc(&self) -> Arc<str> {
        Arc::clone(&self.dyno)
    }

    /// Requests (and upgraded tunnels) currently using this endpoint.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until nothing is in flight, or `timeout` passes. Returns whether it drained.
    /// Idle pooled connections are closed once drained so the container sees no keep-alive.
    pub async fn wait_drained(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        self.drain_waiters.fetch_add(1, Ordering::SeqCst);
        let drained = loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                break true;
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(deadline) => break self.in_flight() == 0,
            }
        };
        self.drain_waiters.fetch_sub(1, Ordering::SeqCst);
        if drained {
            self.pool.clear();
        }
        drained
    }

    /// Whether a recent connection failure keeps this endpoint out of rotation.
    pub fn is_ejected(&self) -> bool {
        self.is_ejected_at(&mut LazyNow::default())
    }

    pub(crate) fn is_ejected_at(&self, now: &mut LazyNow) -> bool {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        until != 0 && now.get() < until
    }

    pub(crate) fn eject(&self, duration: Duration) {
        let until = clock_ms()
            .saturating_add(duration.as_millis() as u64)
            .max(1);
        self.ejected_until_ms.store(until, Ordering::Relaxed);
        self.pool.clear();
    }

    /// Counts one request as in flight until the returned lease is dropped.
    pub(crate) fn lease(self: &Arc<Self>) -> Lease {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Lease {
            endpoint: Arc::clone(self),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .field("dyno", &self.dyno)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Proof that a request is in flight to an endpoint; dropping it ends the request.
pub(crate) struct Lease {
    endpoint: Arc<Endpoint>,
}

impl Lease {
    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let endpoint = &self.endpoint;
        let before = endpoint.in_flight.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && endpoint.drain_waiters.load(Ordering::SeqCst) > 0 {
            endpoint.drained.notify_waiters();
        }
    }
}

/// Milliseconds since the router clock started; cheap enough to call per request.
pub(crate) fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Reads the clock at most once, and only if some endpoint was ever ejected.
#[derive(Default)]
pub(crate) struct LazyNow(Option<u64>);

impl LazyNow {
    fn get(&mut self) -> u64 {
        *self.0.get_or_insert_with(clock_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Arc<Endpoint> {
        Endpoint::new("127.0.0.1:5000".parse().unwrap(), "web.1")
    }

    #[test]
    fn leases_count_in_flight_requests() {
        let endpoint = endpoint();
        let first = endpoint.lease();
        let second = endpoint.lease();
        assert_eq!(endpoint.in_flight(), 2);
        drop(first);
        assert_eq!(endpoint.in_flight(), 1);
        drop(second);
        assert_eq!(endpoint.in_flight(), 0);
    }

    #[tokio::test]
    async fn wait_drained_returns_when_the_last_lease_ends() {
        let endpoint = endpoint();
        let lease = endpoint.lease();
        let waiter = tokio::spawn({
            let endpoint = Arc::clone(&endpoint);
            async move { endpoint.wait_drained(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(lease);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn wait_drained_gives_up_after_the_timeout() {
        let endpoint = endpoint();
        let _lease = endpoint.lease();
        assert!(!endpoint.wait_drained(Duration::from_millis(20)).await);
        assert!(endpoint.wait_drained(Duration::ZERO).await.eq(&false));
    }

    #[test]
    fn ejection_lasts_for_its_duration() {
        let endpoint = endpoint();
        assert!(!endpoint.is_ejected());
        endpoint.eject(Duration::from_secs(60));
        assert!(endpoint.is_ejected());
        endpoint.eject(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert!(!endpoint.is_ejected());
    }
}
