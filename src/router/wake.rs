//! Waking sleeping apps: a request for an app whose route is `Sleeping` is held, not
//! refused. The first one asks for a wake (through the waker the server installs); every
//! held request waits in arrival order until a published table serves the app, then goes
//! through; a failed wake answers them all 503 with its reason (and, for a short while,
//! answers new requests the same without another try). A browser that waits past a
//! threshold gets a page that reloads itself. The router does not know how apps wake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

use super::table::{AppRoute, RouteSnapshot};

/// How a wait for a wake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The app has healthy web endpoints in the table now.
    Serving,
    /// The wake failed: why.
    Failed(Arc<str>),
}

/// One app's wake in progress: who waits, and when it was asked for.
struct Pending {
    asked: Instant,
    waiters: Vec<oneshot::Sender<Woken>>,
}

/// Asks for the wake of the app it is given.
pub(crate) type Waker = Box<dyn Fn(&str) + Send + Sync>;

/// A failed wake: when, and why.
struct Failure {
    at: Instant,
    reason: Arc<str>,
}

/// Wakes in progress and recent failures, by app.
#[derive(Default)]
pub(crate) struct Wakes {
    waker: OnceLock<Waker>,
    pending: Mutex<HashMap<Arc<str>, Pending>>,
    failed: Mutex<HashMap<Arc<str>, Failure>>,
}

/// What a request for a sleeping app does now.
pub(crate) enum Hold {
    /// Wait for this.
    Wait(oneshot::Receiver<Woken>),
    /// The last wake failed moments ago: answer with its reason.
    Failed(Arc<str>),
}

impl Wakes {
    /// Installs what asks for a wake; it must not block (the request's task calls it).
    pub(crate) fn set_waker(&self, waker: Waker) -> bool {
        self.waker.set(waker).is_ok()
    }

    /// Queues a request for `app`, asking for a wake unless one is under way (or was asked
    /// for longer than `patience` ago and never ended: then it asks again).
    pub(crate) fn hold(
        &self,
        app: &Arc<str>,
        retry_after: std::time::Duration,
        patience: std::time::Duration,
    ) -> Hold {
        {
            let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
            match failed.get(app) {
                Some(failure) if failure.at.elapsed() < retry_after => {
                    return Hold::Failed(Arc::clone(&failure.reason));
                }
                Some(_) => {
                    failed.remove(app);
                }
                None => {}
            }
        }
        let (tx, rx) = oneshot::channel();
        let ask = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let entry = pending.entry(Arc::clone(app)).or_insert_with(|| Pending {
                asked: now,
                waiters: Vec::new(),
            });
            let ask = entry.waiters.is_empty() || entry.asked.elapsed() >= patience;
            if ask {
                entry.asked = now;
            }
            entry.waiters.retain(|w| !w.is_closed());
            entry.waiters.push(tx);
            ask
        };
        if ask && let Some(waker) = self.waker.get() {
            waker(app);
        }
        Hold::Wait(rx)
    }

    /// After a publish: lets through, in arrival order, the requests of every app that
    /// the new table serves. Costs one uncontended lock when nothing waits.
    pub(crate) fn published(&self, snapshot: &RouteSnapshot) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.is_empty() {
            return;
        }
        let serving: Vec<Arc<str>> = pending
            .keys()
            .filter(|app| {
                snapshot.app(app).is_some_and(
                    |e| matches!(&e.route, AppRoute::Serving(list) if !list.is_empty()),
                )
            })
            .cloned()
            .collect();
        let mut released = Vec::new();
        for app in serving {
            if let Some(wake) = pending.remove(&app) {
                released.push(wake);
            }
            self.failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&app);
        }
        drop(pending);
        for wake in released {
            for waiter in wake.waiters {
                let _ = waiter.send(Woken::Serving);
            }
        }
    }

    /// The wake of `app` failed: every held request gets `reason`, and so does every new
    /// one for the next `retry_after`.
    pub(crate) fn failed(&self, app: &str, reason: &str) {
        let reason: Arc<str> = Arc::from(reason);
        let app: Arc<str> = Arc::from(app);
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                Arc::clone(&app),
                Failure {
                    at: Instant::now(),
                    reason: Arc::clone(&reason),
                },
            );
        let wake = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&app);
        for waiter in wake.into_iter().flat_map(|w| w.waiters) {
            let _ = waiter.send(Woken::Failed(Arc::clone(&reason)));
        }
    }

    /// Requests held now for `app`.
    pub(crate) fn waiting(&self, app: &str) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app)
            .map_or(0, |p| p.waiters.iter().filter(|w| !w.is_closed()).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{AppSpec, AppState, EndpointSpec, RouteSnapshotBuilder, UnavailableReason};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const RETRY: Duration = Duration::from_secs(10);
    const PATIENCE: Duration = Duration::from_secs(60);

    fn table(state: AppState) -> RouteSnapshot {
        RouteSnapshotBuilder::default()
            .app(AppSpec {
                name: "blog".into(),
                domains: vec![],
                state,
            })
            .build()
            .unwrap()
    }

    fn serving() -> RouteSnapshot {
        table(AppState::Serving(vec![EndpointSpec {
            addr: "10.200.0.2:5000".parse().unwrap(),
            dyno: "web.1".into(),
        }]))
    }

    fn wakes_counting() -> (Wakes, Arc<AtomicUsize>) {
        let wakes = Wakes::default();
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        assert!(wakes.set_waker(Box::new(move |app| {
            assert_eq!(app, "blog");
            counter.fetch_add(1, Ordering::SeqCst);
        })));
        (wakes, asked)
    }

    fn wait(hold: Hold) -> oneshot::Receiver<Woken> {
        match hold {
            Hold::Wait(rx) => rx,
            Hold::Failed(r) => panic!("failed at once: {r}"),
        }
    }

    #[tokio::test]
    async fn many_held_requests_ask_for_one_wake_and_all_go_through_once_the_app_serves() {
        let (wakes, asked) = wakes_counting();
        let app: Arc<str> = Arc::from("blog");
        let held: Vec<_> = (0..50)
            .map(|_| wait(wakes.hold(&app, RETRY, PATIENCE)))
            .collect();
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert_eq!(wakes.waiting("blog"), 50);

        wakes.published(&table(AppState::Unavailable(UnavailableReason::Sleeping)));
        assert_eq!(
            wakes.waiting("blog"),
            50,
            "still asleep: nobody is let through"
        );
        wakes.published(&serving());
        for rx in held {
            assert_eq!(rx.await.unwrap(), Woken::Serving);
        }
        assert_eq!(wakes.waiting("blog"), 0);
        // The next sleep asks again.
        let _again = wait(wakes.hold(&app, RETRY, PATIENCE));
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_wake_answers_the_held_requests_and_new_ones_for_a_while() {
        let (wakes, asked) = wakes_counting();
        let app: Arc<str> = Arc::from("blog");
        let held = wait(wakes.hold(&app, RETRY, PATIENCE));
        wakes.failed("blog", "web.1 exited with code 1");
        assert_eq!(
            held.await.unwrap(),
            Woken::Failed(Arc::from("web.1 exited with code 1"))
        );
        match wakes.hold(&app, RETRY, PATIENCE) {
            Hold::Failed(reason) => assert_eq!(&*reason, "web.1 exited with code 1"),
            Hold::Wait(_) => panic!("a fresh failure is answered at once"),
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        // Once the retry time is over, a request tries again.
        let _retry = wait(wakes.hold(&app, Duration::ZERO, PATIENCE));
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_wake_that_never_ends_is_asked_for_again_after_the_patience() {
        let (wakes, asked) = wakes_counting();
        let app: Arc<str> = Arc::from("blog");
        let _first = wait(wakes.hold(&app, RETRY, PATIENCE));
        let _second = wait(wakes.hold(&app, RETRY, PATIENCE));
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        let _third = wait(wakes.hold(&app, RETRY, Duration::ZERO));
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
