//! Failed-login limits: too many failures for one address or one user name within a
//! window block further attempts for that key until the window passes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// How long `key` must still wait, if it is blocked now.
    pub fn blocked_for(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = failures.get_mut(key)?;
        times.retain(|t| now.duration_since(*t) < WINDOW);
        if times.len() < MAX_FAILURES {
            return None;
        }
        let oldest = times.iter().min()?;
        Some(WINDOW.saturating_sub(now.duration_since(*oldest)))
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 100_000 {
            // Keep memory bounded under a spray of distinct keys.
            failures.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
        }
        failures.entry(key.to_owned()).or_default().push(now);
    }

    pub fn record_success(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_the_key_until_the_window_passes() {
        let limiter = LoginLimiter::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(limiter.blocked_for("ip:1.2.3.4", start).is_none());
            limiter.record_failure("ip:1.2.3.4", start);
        }
        let wait = limiter.blocked_for("ip:1.2.3.4", start).unwrap();
        assert_eq!(wait, WINDOW);
        assert!(
            limiter.blocked_for("ip:5.6.7.8", start).is_none(),
            "other keys are not affected"
        );
        assert!(limiter.blocked_for("ip:1.2.3.4", start + WINDOW).is_none());
    }

    #[test]
    fn a_success_clears_the_failures() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            limiter.record_failure("user:alice", now);
        }
        limiter.record_success("user:alice");
        assert!(limiter.blocked_for("user:alice", now).is_none());
    }
}
