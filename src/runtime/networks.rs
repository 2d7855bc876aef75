//! Per-app networks: every app's containers (processes, one-offs, builds) share a bridge
//! of their own and nothing else, so one tenant's containers cannot reach another's. The
//! router on the host reaches every bridge. Subnets come from paas's own pool
//! (`PAAS_APP_SUBNETS`), not the engine's default pools, which hold only ~30 networks.
//!
//! Owns the subnet arithmetic (pure, tested below) and the engine calls that make and
//! remove an app's network; the host firewall that keeps these bridges away from the
//! host itself is `firewall.rs`.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions};
use sha2::Digest;

use super::{Docker, RuntimeError, labels};

/// The bridge interfaces of app networks are named `paas` + 11 hex digits, so one
/// firewall rule (`-i paas+`) covers every app of every server on the host.
pub const BRIDGE_PREFIX: &str = "paas";

/// An IPv4 network, `10.200.0.0/15`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    base: u32,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPv4 network like 10.200.0.0/16")]
pub struct InvalidNet(pub String);

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Ipv4Net {
            base: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    fn last(&self) -> u32 {
        self.base | !mask(self.prefix)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// The address after the network's own, which the bridge takes as its gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(1))
    }

    /// The pool's subnets of `/prefix`, in order; none when `prefix` is shorter than the
    /// pool's own or leaves no room for a gateway and a container.
    pub fn subnets(&self, prefix: u8) -> impl Iterator<Item = Ipv4Net> + '_ {
        let count: u64 = if prefix < self.prefix || prefix > 30 {
            0
        } else {
            1u64 << (prefix - self.prefix)
        };
        let step = 1u64 << (32 - u32::from(prefix));
        (0..count).map(move |i| Ipv4Net {
            // base + i*step stays inside the pool, so it fits in u32.
            base: (u64::from(self.base) + i * step) as u32,
            prefix,
        })
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Ipv4Net {
    type Err = InvalidNet;

    /// `10.0.0.0/8`, or a bare address (a network of one).
    fn from_str(s: &str) -> Result<Self, InvalidNet> {
        let invalid = || InvalidNet(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().map_err(|_| invalid())?),
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid())?;
        Ipv4Net::new(addr, prefix).ok_or_else(invalid)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.first(), self.prefix)
    }
}

/// Where app networks get their subnets.
#[derive(Debug, Clone, Copy)]
pub struct SubnetPool {
    pub pool: Ipv4Net,
    /// Each app gets one `/prefix` of the pool.
    pub prefix: u8,
}

impl SubnetPool {
    /// The first subnet of the pool that overlaps none of `used`.
    pub fn first_free(&self, used: &[Ipv4Net]) -> Option<Ipv4Net> {
        self.pool
            .subnets(self.prefix)
            .find(|s| !used.iter().any(|u| u.overlaps(s)))
    }

    pub fn capacity(&self) -> u64 {
        self.pool.subnets(self.prefix).count() as u64
    }
}

/// Name of the engine network of `app` on the server `instance`.
pub fn network_name(instance: &str, app: &str) -> String {
    format!("paas-{instance}-{app}")
}

/// Its bridge interface: at most 15 characters, as Linux allows.
pub fn bridge_name(network: &str) -> String {
    let digest = sha2::Sha256::digest(network.as_bytes());
    format!("{BRIDGE_PREFIX}{}", &hex::encode(digest)[..11])
}

impl Docker {
    /// The network `app`'s containers join.
    pub fn app_network(&self, app: &str) -> String {
        network_name(&self.instance, app)
    }

    /// Makes `app`'s network if it is missing (checked with the engine once per server
    /// run), with the first free subnet of the pool.
    pub async fn ensure_app_network(&self, app: &str) -> Result<String, RuntimeError> {
        let name = self.app_network(app);
        if self.known_networks().contains(&name) {
            return Ok(name);
        }
        // One creation at a time in this server: two would pick the same subnet.
        let _guard = self.network_lock.lock().await;
        match self
            .api
            .inspect_network(&name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => {}
            Err(e) if RuntimeError::is_not_found(&e) => self.create_app_network(app, &name).await?,
            Err(e) => return Err(self.fail()(e)),
        }
        self.known_networks().insert(name.clone());
        Ok(name)
    }

    async fn create_app_network(&self, app: &str, name: &str) -> Result<(), RuntimeError> {
        let mut used = self.subnets_in_use().await?;
        // Another server on this engine may take a subnet between our look and our
        // create: the engine refuses the overlap, and the next free one is tried.
        for _ in 0..8 {
            let subnet =
                self.pool
                    .first_free(&used)
                    .ok_or_else(|| RuntimeError::NetworkPoolFull {
                        pool: self.pool.pool.to_string(),
                        prefix: self.pool.prefix,
                        capacity: self.pool.capacity(),
                    })?;
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.to_string()),
                        gateway: Some(subnet.gateway().to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                options: Some(
                    [(
                        "com.docker.network.bridge.name".to_owned(),
                        bridge_name(name),
                    )]
                    .into(),
                ),
                labels: Some(
                    [
                        (labels::MANAGED.to_owned(), self.instance.clone()),
                        (labels::APP.to_owned(), app.to_owned()),
                    ]
                    .into(),
                ),
                ..Default::default()
            };
            match self.api.create_network(request).await {
                Ok(_) => {
                    tracing::info!(app, network = name, %subnet, "made the app network");
                    return Ok(());
                }
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    if message.contains("overlaps") =>
                {
                    used.push(subnet);
                }
                Err(e) => return Err(self.fail()(e)),
            }
        }
        Err(RuntimeError::Engine(format!(
            "could not find a free subnet for the network of {app} in {}",
            self.pool.pool
        )))
    }

    /// Every IPv4 subnet of every network on the engine, paas's or not.
    async fn subnets_in_use(&self) -> Result<Vec<Ipv4Net>, RuntimeError> {
        let networks = self
            .api
            .list_networks(None::<ListNetworksOptions>)
            .await
            .map_err(self.fail())?;
        Ok(networks
            .into_iter()
            .filter_map(|n| n.ipam?.config)
            .flatten()
            .filter_map(|c| c.subnet?.parse().ok())
            .collect())
    }

    /// Removes `app`'s network; its containers must be gone first.
    pub async fn remove_app_network(&self, app: &str) -> Result<(), RuntimeError> {
        let name = self.app_network(app);
        self.known_networks().remove(&name);
        match self.api.remove_network(&name).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    fn known_networks(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.networks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_mask_and_print() {
        assert_eq!(net("10.200.3.7/16").to_string(), "10.200.0.0/16");
        assert_eq!(net("10.1.2.3").to_string(), "10.1.2.3/32");
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("fd00::/8".parse::<Ipv4Net>().is_err());
        assert!("ten/8".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn the_first_free_subnet_skips_every_overlap() {
        let pool = SubnetPool {
            pool: net("10.200.0.0/22"),
            prefix: 24,
        };
        assert_eq!(pool.capacity(), 4);
        assert_eq!(pool.first_free(&[]), Some(net("10.200.0.0/24")));
        let used = [
            net("10.200.0.0/24"),
            net("10.200.1.128/25"),
            net("172.17.0.0/16"),
        ];
        assert_eq!(pool.first_free(&used), Some(net("10.200.2.0/24")));
        // A network larger than a subnet covers several.
        assert_eq!(
            pool.first_free(&[net("10.200.0.0/23")]),
            Some(net("10.200.2.0/24"))
        );
        assert_eq!(pool.first_free(&[net("10.0.0.0/8")]), None);
    }

    #[test]
    fn a_subnet_prefix_shorter_than_the_pool_gives_no_subnet() {
        let pool = SubnetPool {
            pool: net("10.200.0.0/24"),
            prefix: 16,
        };
        assert_eq!(pool.first_free(&[]), None);
    }

    #[test]
    fn bridge_names_fit_linux_and_share_the_firewall_prefix() {
        let name = bridge_name(&network_name(
            "0123456789abcdef",
            "a-thirty-character-app-name-xy",
        ));
        assert_eq!(name.len(), 15);
        assert!(name.starts_with(BRIDGE_PREFIX));
        assert_ne!(
            name,
            bridge_name(&network_name("0123456789abcdef", "other"))
        );
    }

    proptest! {
        #[test]
        fn free_subnets_lie_in_the_pool_and_overlap_nothing_used(
            a in any::<u32>(), p in 8u8..=24, extra in 0u8..=6,
            used in proptest::collection::vec((any::<u32>(), 8u8..=32), 0..20),
        ) {
            let pool = SubnetPool { pool: Ipv4Net::new(a.into(), p).unwrap(), prefix: p + extra };
            let used: Vec<Ipv4Net> = used.into_iter().map(|(b, q)| Ipv4Net::new(b.into(), q).unwrap()).collect();
            if let Some(s) = pool.first_free(&used) {
                prop_assert!(pool.pool.overlaps(&s));
                prop_assert_eq!(s.prefix(), pool.prefix);
                prop_assert!(used.iter().all(|u| !u.overlaps(&s)));
            }
        }
    }
}
