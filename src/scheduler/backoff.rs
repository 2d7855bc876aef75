//! Crash restart delays, Heroku style: the first restart is immediate, then each one
//! waits twice as long, up to a cap.

use std::time::Duration;

const FIRST_DELAY: Duration = Duration::from_secs(2);
const MAX_DELAY: Duration = Duration::from_secs(300);
/// A process that stayed up this long is forgiven its earlier crashes.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

/// The delay before restart number `restarts + 1`.
pub fn delay(restarts: u32) -> Duration {
    if restarts == 0 {
        return Duration::ZERO;
    }
    let doublings = (restarts - 1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_start_immediately_then_double_up_to_five_minutes() {
        assert_eq!(delay(0), Duration::ZERO);
        assert_eq!(delay(1), Duration::from_secs(2));
        assert_eq!(delay(2), Duration::from_secs(4));
        assert_eq!(delay(3), Duration::from_secs(8));
        assert_eq!(delay(9), Duration::from_secs(300));
        assert_eq!(delay(u32::MAX), Duration::from_secs(300));
    }
}
