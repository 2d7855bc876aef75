//! Sign-in limits. An attempt reserves its place in every counter it falls under *before*
//! the password is hashed, so concurrent guesses cannot all slip past the check; a
//! success gives its place back. Counters are per client address, per (user, address) and
//! per user with a larger budget, so one foreign address can never lock a user out: it
//! runs out of its own budget long before the user's. argon2 is memory-hard (19 MiB an
//! attempt), so at most `CONCURRENT_HASHES` hashes run at once; callers beyond that wait
//! briefly, then are told to come back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Failed attempts at one user from one address, per window.
pub const MAX_FAILURES: usize = 5;
/// Failed attempts from one address at any users, per window (an office shares one).
pub const MAX_ADDRESS_FAILURES: usize = 20;
/// Failed attempts against one user from all addresses together, per window.
pub const MAX_USER_FAILURES: usize = 50;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// argon2 hashes running at once, sign-ins and password changes together.
pub const CONCURRENT_HASHES: usize = 2;
/// How long an attempt waits for a hashing slot before it is refused.
pub const HASH_WAIT: Duration = Duration::from_secs(5);

/// Why an attempt may not go ahead, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This address used its budget.
    Address(Duration),
    /// The user name used its budget (from many addresses).
    User(Duration),
    /// Every hashing slot stayed busy.
    Busy(Duration),
}

impl Refusal {
    pub fn retry_after(self) -> Duration {
        match self {
            Refusal::Address(d) | Refusal::User(d) | Refusal::Busy(d) => d,
        }
    }
}

pub struct LoginLimiter {
    counters: Mutex<Counters>,
    hashes: Semaphore,
}

#[derive(Default)]
struct Counters {
    next_id: u64,
    /// Per key, the attempts of the window that did not succeed: (id, when).
    attempts: HashMap<String, Vec<(u64, Instant)>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            counters: Mutex::default(),
            hashes: Semaphore::new(CONCURRENT_HASHES),
        }
    }
}

/// A reserved place in the counters; counts as a failure unless `succeeded` or `cancel`.
#[must_use]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    id: u64,
    keys: [String; 3],
}

impl LoginLimiter {
    /// Reserves an attempt for `user` from `addr`, or says why not.
    pub fn begin(&self, user: &str, addr: IpAddr, now: Instant) -> Result<Attempt<'_>, Refusal> {
        let keys = [
            format!("ip:{addr}"),
            format!("user:{user}@{addr}"),
            format!("user:{user}"),
        ];
        let limits = [MAX_ADDRESS_FAILURES, MAX_FAILURES, MAX_USER_FAILURES];
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if counters.attempts.len() > 100_000 {
            // Keep memory bounded under a spray of distinct keys.
            counters
                .attempts
                .retain(|_, times| times.iter().any(|(_, t)| now.duration_since(*t) < WINDOW));
        }
        for (i, (key, limit)) in keys.iter().zip(limits).enumerate() {
            let Some(times) = counters.attempts.get_mut(key) else {
                continue;
            };
            times.retain(|(_, t)| now.duration_since(*t) < WINDOW);
            if times.len() >= limit {
                let oldest = times.iter().map(|(_, t)| *t).min().unwrap_or(now);
                let wait = WINDOW.saturating_sub(now.duration_since(oldest));
                return Err(if i == 2 {
                    Refusal::User(wait)
                } else {
                    Refusal::Address(wait)
                });
            }
        }
        counters.next_id += 1;
        let id = counters.next_id;
        for key in &keys {
            counters
                .attempts
                .entry(key.clone())
                .or_default()
                .push((id, now));
        }
        Ok(Attempt {
            limiter: self,
            id,
            keys,
        })
    }

    /// One of the few hashing slots, waiting at most `HASH_WAIT` for it.
    pub async fn hash_slot(&self) -> Result<SemaphorePermit<'_>, Refusal> {
        match tokio::time::timeout(HASH_WAIT, self.hashes.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Refusal::Busy(Duration::from_secs(2))),
        }
    }

    fn release(&self, id: u64, keys: &[String], clear: Option<&str>) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if Some(key.as_str()) == clear {
                counters.attempts.remove(key);
            } else if let Some(times) = counters.attempts.get_mut(key) {
                times.retain(|(other, _)| *other != id);
            }
        }
    }
}

impl Attempt<'_> {
    /// The password was right: this attempt does not count, and the user's earlier
    /// failures from this address are forgiven (the address's own budget is not: a
    /// sign-in to one's own account must not buy guesses at others).
    pub fn succeeded(self) {
        self.limiter
            .release(self.id, &self.keys, Some(&self.keys[1]));
    }

    /// The attempt never reached a verdict (no hashing slot): it does not count.
    pub fn cancel(self) {
        self.limiter.release(self.id, &self.keys, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn failures_from_an_address_block_it_until_the_window_passes() {
        let limiter = LoginLimiter::default();
        let start = Instant::now();
        for n in 0..MAX_ADDRESS_FAILURES {
            drop(
                limiter
                    .begin(&format!("user{n}"), ip("1.2.3.4"), start)
                    .unwrap(),
            );
        }
        let refused = limiter.begin("someone", ip("1.2.3.4"), start).err();
        assert_eq!(refused, Some(Refusal::Address(WINDOW)));
        assert!(limiter.begin("someone", ip("5.6.7.8"), start).is_ok());
        assert!(limiter.begin("x", ip("1.2.3.4"), start + WINDOW).is_ok());
    }

    #[test]
    fn five_failures_at_one_user_block_that_user_from_that_address() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            drop(limiter.begin("admin", ip("1.2.3.4"), now).unwrap());
        }
        assert!(matches!(
            limiter.begin("admin", ip("1.2.3.4"), now).err(),
            Some(Refusal::Address(_))
        ));
        assert!(limiter.begin("alice", ip("1.2.3.4"), now).is_ok());
        assert!(limiter.begin("admin", ip("4.3.2.1"), now).is_ok());
    }

    #[test]
    fn reserved_attempts_count_before_any_verdict() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        let pending: Vec<_> = (0..MAX_FAILURES)
            .map(|_| limiter.begin("admin", ip("1.2.3.4"), now).unwrap())
            .collect();
        assert!(limiter.begin("admin", ip("1.2.3.4"), now).is_err());
        pending.into_iter().for_each(Attempt::cancel);
        assert!(limiter.begin("admin", ip("1.2.3.4"), now).is_ok());
    }

    #[test]
    fn one_address_cannot_lock_a_user_out_of_another() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES * 3 {
            let _ = limiter.begin("admin", ip("6.6.6.6"), now);
        }
        limiter
            .begin("admin", ip("10.0.0.1"), now)
            .unwrap()
            .succeeded();
    }

    #[test]
    fn a_user_attacked_from_many_addresses_is_blocked_by_name() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for n in 0..MAX_USER_FAILURES {
            drop(limiter.begin("admin", ip(&format!("10.0.{}.{}", n / 200, n % 200)), now));
        }
        let refused = limiter.begin("admin", ip("192.168.1.1"), now).err();
        assert!(matches!(refused, Some(Refusal::User(_))), "{refused:?}");
    }

    #[test]
    fn a_success_forgives_the_users_failures_but_not_the_addresss() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            drop(limiter.begin("alice", ip("1.2.3.4"), now).unwrap());
        }
        limiter
            .begin("alice", ip("1.2.3.4"), now)
            .unwrap()
            .succeeded();
        for _ in 0..MAX_FAILURES - 1 {
            drop(limiter.begin("alice", ip("1.2.3.4"), now).unwrap());
        }
        // The address's budget still holds the first four failures.
        for n in 0..MAX_ADDRESS_FAILURES - 2 * (MAX_FAILURES - 1) {
            drop(limiter.begin(&format!("u{n}"), ip("1.2.3.4"), now).unwrap());
        }
        assert!(limiter.begin("carol", ip("1.2.3.4"), now).is_err());
    }
}
