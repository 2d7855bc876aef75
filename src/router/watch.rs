//! Connection timeouts without a timer per request: each client connection shares a
//! `ConnectionWatch` (atomics only) with one `Sweeper` task per listener, which ticks a few
//! times per timeout and flags what is overdue: idle connections and tunnels, request heads
//! trickling in (slowloris), apps slow to send response headers (H12), and shutdown. The
//! flagged connection's task is woken and acts on the flag. Per-request tokio timers cost a
//! lock on the timer wheel each; this costs a few relaxed atomics (see BENCHMARKS.md).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Waker;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

use super::endpoint::clock_ms;
use super::settings::RouterSettings;

/// Between requests and quiet for the idle timeout: finish gracefully.
pub(crate) const IDLE: u8 = 1;
/// The listener is shutting down: finish the current request, then close.
pub(crate) const SHUTDOWN: u8 = 2;
/// Close now (hard stop, a stalled response or tunnel, a trickling request head).
pub(crate) const CLOSE: u8 = 4;
/// `CLOSE` was set because a response or tunnel went quiet (logged as H15).
pub(crate) const IDLE_CLOSE: u8 = 8;

/// What the sweeper and a connection's task share.
#[derive(Default)]
pub(crate) struct ConnectionWatch {
    /// Bumped on every read and write of the client connection.
    activity: AtomicU64,
    signals: AtomicU8,
    waker: AtomicWaker,
    /// A request is being handled (from its head until its response ends).
    in_request: AtomicBool,
    /// When bytes of a new request head started arriving; 0 = not reading a head.
    head_since_ms: AtomicU64,
    /// When a request was sent to an app; 0 = not waiting for response headers.
    awaiting_since_ms: AtomicU64,
    /// Last piece of request body handed to the app.
    upload_last_ms: AtomicU64,
    /// The platform is working on a request: the control plane's own code (a backup of a
    /// large database answers after minutes), or a request held while its app wakes.
    /// Never idle.
    control_working: AtomicBool,
    response_timed_out: AtomicBool,
    /// Sweeper-only bookkeeping (atomics so the watch can be shared).
    seen_activity: AtomicU64,
    quiet_since_ms: AtomicU64,
}

impl ConnectionWatch {
    pub(crate) fn on_read(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        if !self.in_request.load(Ordering::Relaxed)
            && self.head_since_ms.load(Ordering::Relaxed) == 0
        {
            self.head_since_ms
                .store(clock_ms().max(1), Ordering::Relaxed);
        }
    }

    pub(crate) fn on_write(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }

    /// Registers the task to wake when a signal is raised; returns the signals raised.
    pub(crate) fn poll_signals(&self, waker: &Waker) -> u8 {
        self.waker.register(waker);
        self.signals.load(Ordering::Acquire)
    }

    pub(crate) fn request_started(&self) {
        self.in_request.store(true, Ordering::Relaxed);
        self.head_since_ms.store(0, Ordering::Relaxed);
    }

    pub(crate) fn request_finished(&self) {
        self.in_request.store(false, Ordering::Relaxed);
    }

    pub(crate) fn control_working(&self, working: bool) {
        self.control_working.store(working, Ordering::Relaxed);
    }

    pub(crate) fn awaiting_response(&self) {
        self.response_timed_out.store(false, Ordering::Relaxed);
        self.upload_last_ms.store(0, Ordering::Relaxed);
        self.awaiting_since_ms
            .store(clock_ms().max(1), Ordering::Release);
    }

    pub(crate) fn response_arrived(&self) {
        self.awaiting_since_ms.store(0, Ordering::Release);
    }

    pub(crate) fn upload_progressed(&self) {
        self.upload_last_ms.store(clock_ms(), Ordering::Relaxed);
    }

    pub(crate) fn response_timed_out(&self) -> bool {
        self.response_timed_out.load(Ordering::Acquire)
    }

    pub(crate) fn closed_for_idleness(&self) -> bool {
        self.signals.load(Ordering::Acquire) & IDLE_CLOSE != 0
    }

    #[cfg(test)]
    pub(crate) fn activity(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }

    fn raise(&self, signals: u8) {
        self.signals.fetch_or(signals, Ordering::AcqRel);
        self.waker.wake();
    }
}

/// Limits the sweeper enforces, and how often it looks.
#[derive(Clone, Copy)]
struct Limits {
    idle_ms: u64,
    request_header_ms: u64,
    response_header_ms: u64,
    tick: Duration,
}

impl Limits {
    fn new(settings: &RouterSettings) -> Self {
        let shortest = settings
            .idle_timeout
            .min(settings.request_header_timeout)
            .min(settings.response_header_timeout);
        Self {
            idle_ms: settings.idle_timeout.as_millis() as u64,
            request_header_ms: settings.request_header_timeout.as_millis() as u64,
            response_header_ms: settings.response_header_timeout.as_millis() as u64,
            // A timeout fires at most a quarter late (and never more than a second).
            tick: (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1)),
        }
    }
}

/// The watches of one listener's live connections.
pub(crate) struct Sweeper {
    watches: Mutex<Vec<Weak<ConnectionWatch>>>,
    limits: Limits,
}

impl Sweeper {
    pub(crate) fn new(settings: &RouterSettings) -> Arc<Self> {
        Arc::new(Self {
            watches: Mutex::new(Vec::new()),
            limits: Limits::new(settings),
        })
    }

    /// A watch for a new connection, swept until every holder drops it.
    pub(crate) fn watch(&self) -> Arc<ConnectionWatch> {
        let watch = Arc::new(ConnectionWatch::default());
        watch.quiet_since_ms.store(clock_ms(), Ordering::Relaxed);
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches.push(Arc::downgrade(&watch));
        watch
    }

    /// Sweeps every tick until shutdown, keeps sweeping while connections drain, and
    /// returns once none is left. `hard_stop` closes them all.
    pub(crate) async fn run(
        self: Arc<Self>,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(self.limits.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut extra = 0u8;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = shutdown.cancelled(), if extra & SHUTDOWN == 0 => extra |= SHUTDOWN,
                () = hard_stop.cancelled(), if extra & CLOSE == 0 => extra |= CLOSE,
            }
            let live = self.sweep(clock_ms(), extra);
            if extra != 0 && live == 0 {
                return;
            }
        }
    }

    /// One pass; returns how many connections are still alive.
    fn sweep(&self, now: u64, extra: u8) -> usize {
        let live: Vec<Arc<ConnectionWatch>> = {
            let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
            watches.retain(|w| w.strong_count() > 0);
            watches.iter().filter_map(Weak::upgrade).collect()
        };
        for watch in &live {
            self.check(watch, now, extra);
        }
        live.len()
    }

    fn check(&self, watch: &ConnectionWatch, now: u64, extra: u8) {
        let limits = &self.limits;
        let mut raise = extra & !watch.signals.load(Ordering::Acquire);
        let awaiting = watch.awaiting_since_ms.load(Ordering::Acquire);
        if awaiting != 0 {
            let last = awaiting.max(watch.upload_last_ms.load(Ordering::Relaxed));
            if now.saturating_sub(last) >= limits.response_header_ms {
                watch.response_timed_out.store(true, Ordering::Release);
                watch.waker.wake();
            }
        }
        let activity = watch.activity.load(Ordering::Relaxed);
        let working = watch.control_working.load(Ordering::Relaxed);
        if activity != watch.seen_activity.swap(activity, Ordering::Relaxed)
            || awaiting != 0
            || working
        {
            // Waiting for an app is the response-header timeout's business, not idleness.
            watch.quiet_since_ms.store(now, Ordering::Relaxed);
        } else if now.saturating_sub(watch.quiet_since_ms.load(Ordering::Relaxed)) >= limits.idle_ms
        {
            let busy = watch.in_request.load(Ordering::Relaxed);
            let asked = watch.signals.load(Ordering::Acquire) & IDLE != 0;
            raise |= if busy || asked {
                CLOSE | IDLE_CLOSE
            } else {
                IDLE
            };
            watch.quiet_since_ms.store(now, Ordering::Relaxed);
        }
        let head = watch.head_since_ms.load(Ordering::Relaxed);
        if head != 0 && now.saturating_sub(head) >= limits.request_header_ms {
            raise |= CLOSE;
        }
        // A closing watch is woken every tick: after an upgrade the waker may still be the
        // finished connection task's until the tunnel task registers its own.
        if raise != 0 || watch.signals.load(Ordering::Acquire) & CLOSE != 0 {
            watch.raise(raise);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweeper() -> Arc<Sweeper> {
        Sweeper::new(&RouterSettings {
            idle_timeout: Duration::from_millis(1000),
            request_header_timeout: Duration::from_millis(500),
            response_header_timeout: Duration::from_millis(300),
            ..RouterSettings::default()
        })
    }

    fn signals(watch: &ConnectionWatch) -> u8 {
        watch.signals.load(Ordering::Acquire)
    }

    #[test]
    fn a_quiet_connection_is_asked_to_finish_then_closed() {
        let sweeper = sweeper();
        let watch = sweeper.watch();
        let start = watch.quiet_since_ms.load(Ordering::Relaxed);
        sweeper.sweep(start + 999, 0);
        assert_eq!(signals(&watch), 0);
        sweeper.sweep(start + 1000, 0);
        assert_eq!(signals(&watch), IDLE);
        watch.on_write();
        sweeper.sweep(start + 1500, 0);
        assert_eq!(signals(&watch), IDLE, "activity restarts the idle period");
        sweeper.sweep(start + 2500, 0);
        assert_eq!(signals(&watch) & CLOSE, CLOSE);
    }

    #[test]
    fn a_stalled_response_is_closed_and_marked_idle() {
        let sweeper = sweeper();
        let watch = sweeper.watch();
        watch.request_started();
        let start = watch.quiet_since_ms.load(Ordering::Relaxed);
        sweeper.sweep(start + 1000, 0);
        assert!(watch.closed_for_idleness());
    }

    #[test]
    fn a_control_plane_request_at_work_is_never_idle() {
        let sweeper = sweeper();
        let watch = sweeper.watch();
        watch.request_started();
        watch.control_working(true);
        let start = watch.quiet_since_ms.load(Ordering::Relaxed);
        sweeper.sweep(start + 5000, 0);
        assert_eq!(signals(&watch), 0, "its own code decides how long it takes");
        watch.control_working(false);
        sweeper.sweep(start + 6000, 0);
        sweeper.sweep(start + 7000, 0);
        assert!(watch.closed_for_idleness(), "a silent answer is still cut");
    }

    #[test]
    fn slow_response_headers_time_out_counting_from_the_last_upload_byte() {
        let sweeper = sweeper();
        let watch = sweeper.watch();
        watch.request_started();
        watch.awaiting_response();
        let sent = watch.awaiting_since_ms.load(Ordering::Relaxed);
        watch.upload_last_ms.store(sent + 200, Ordering::Relaxed);
        sweeper.sweep(sent + 400, 0);
        assert!(!watch.response_timed_out());
        sweeper.sweep(sent + 500, 0);
        assert!(watch.response_timed_out());
        sweeper.sweep(sent + 5000, 0);
        assert_eq!(signals(&watch), 0, "waiting for an app is not idleness");
    }

    #[test]
    fn a_trickling_request_head_is_closed() {
        let sweeper = sweeper();
        let watch = sweeper.watch();
        watch.on_read();
        let started = watch.head_since_ms.load(Ordering::Relaxed);
        sweeper.sweep(started + 499, 0);
        assert_eq!(signals(&watch), 0);
        sweeper.sweep(started + 500, 0);
        assert_eq!(signals(&watch) & CLOSE, CLOSE);
    }

    #[test]
    fn shutdown_reaches_every_live_connection_and_dead_ones_are_forgotten() {
        let sweeper = sweeper();
        let kept = sweeper.watch();
        drop(sweeper.watch());
        assert_eq!(sweeper.sweep(clock_ms(), SHUTDOWN), 1);
        assert_eq!(signals(&kept), SHUTDOWN);
    }
}
