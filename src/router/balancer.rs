//! Picks the endpoint for a request: least outstanding requests among endpoints not
//! ejected, scanning from a rotating start so ties spread round-robin. Why this policy is
//! in NOTES.md. Pure choice over the snapshot; no I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::endpoint::{Endpoint, LazyNow};

/// The endpoint with the fewest requests in flight, skipping `exclude` (an endpoint that
/// just failed). Ejected endpoints are used only when every other choice is ejected too:
/// ejection is a hint, and the table says they are healthy.
pub(crate) fn pick<'a>(
    endpoints: &'a [Arc<Endpoint>],
    cursor: &AtomicUsize,
    exclude: Option<&Arc<Endpoint>>,
) -> Option<&'a Arc<Endpoint>> {
    let is_excluded = |e: &Arc<Endpoint>| exclude.is_some_and(|x| Arc::ptr_eq(x, e));
    if let [only] = endpoints {
        return (!is_excluded(only)).then_some(only);
    }
    let start = cursor.fetch_add(1, Ordering::Relaxed);
    let mut now = LazyNow::default();
    let mut best: Option<(&Arc<Endpoint>, usize)> = None;
    let mut fallback: Option<(&Arc<Endpoint>, usize)> = None;
    for offset in 0..endpoints.len() {
        let endpoint = &endpoints[(start.wrapping_add(offset)) % endpoints.len()];
        if is_excluded(endpoint) {
            continue;
        }
        let load = endpoint.in_flight();
        let slot = if endpoint.is_ejected_at(&mut now) {
            &mut fallback
        } else {
            &mut best
        };
        if slot.is_none_or(|(_, least)| load < least) {
            *slot = Some((endpoint, load));
        }
    }
    best.or(fallback).map(|(endpoint, _)| endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn endpoints(count: u16) -> Vec<Arc<Endpoint>> {
        (0..count)
            .map(|i| Endpoint::new(([127, 0, 0, 1], 5000 + i).into(), format!("web.{}", i + 1)))
            .collect()
    }

    #[test]
    fn idle_endpoints_are_picked_in_turn() {
        let endpoints = endpoints(3);
        let cursor = AtomicUsize::new(0);
        let picks: Vec<_> = (0..6)
            .map(|_| pick(&endpoints, &cursor, None).unwrap().dyno().to_owned())
            .collect();
        assert_eq!(
            picks,
            ["web.1", "web.2", "web.3", "web.1", "web.2", "web.3"]
        );
    }

    #[test]
    fn the_least_loaded_endpoint_wins() {
        let endpoints = endpoints(3);
        let _busy = [
            endpoints[0].lease(),
            endpoints[0].lease(),
            endpoints[2].lease(),
        ];
        let cursor = AtomicUsize::new(0);
        for _ in 0..3 {
            assert_eq!(pick(&endpoints, &cursor, None).unwrap().dyno(), "web.2");
        }
    }

    #[test]
    fn ejected_endpoints_are_skipped_unless_nothing_else_is_left() {
        let endpoints = endpoints(2);
        endpoints[0].eject(Duration::from_secs(60));
        let cursor = AtomicUsize::new(0);
        for _ in 0..4 {
            assert_eq!(pick(&endpoints, &cursor, None).unwrap().dyno(), "web.2");
        }
        endpoints[1].eject(Duration::from_secs(60));
        assert!(pick(&endpoints, &cursor, None).is_some());
    }

    #[test]
    fn an_excluded_endpoint_is_never_picked() {
        let endpoints = endpoints(2);
        let cursor = AtomicUsize::new(0);
        for _ in 0..4 {
            let picked = pick(&endpoints, &cursor, Some(&endpoints[1])).unwrap();
            assert!(Arc::ptr_eq(picked, &endpoints[0]));
        }
        assert!(pick(&endpoints[..1], &cursor, Some(&endpoints[0])).is_none());
        assert!(pick(&[], &cursor, None).is_none());
    }
}
