//! `IpCidr`: an IP network written as `10.0.0.0/8` or a bare address, used for the
//! trusted-proxies list. Pure parsing and matching; knows nothing of requests.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::error::RouterError;

/// An IPv4 or IPv6 network; a bare address is a network of one (`/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpCidr {
    network: IpAddr,
    prefix_len: u8,
}

impl IpCidr {
    /// The network holding `addr` with the first `prefix_len` bits significant.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, RouterError> {
        let max = max_prefix(addr);
        if prefix_len > max {
            return Err(RouterError::InvalidCidr(format!("{addr}/{prefix_len}")));
        }
        Ok(Self {
            network: mask(addr, prefix_len),
            prefix_len,
        })
    }

    /// Whether `addr` lies in this network; an IPv4-mapped IPv6 address matches its IPv4 form.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(addr, self.prefix_len) == self.network
            }
            _ => false,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            let kept = bits & keep;
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

impl FromStr for IpCidr {
    type Err = RouterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || RouterError::InvalidCidr(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let prefix_len = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None => max_prefix(addr),
        };
        Self::new(addr, prefix_len).map_err(|_| invalid())
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_bare_address_matches_only_itself() {
        let cidr: IpCidr = "10.1.2.3".parse().unwrap();
        assert!(cidr.contains(ip("10.1.2.3")));
        assert!(!cidr.contains(ip("10.1.2.4")));
        assert_eq!(cidr.to_string(), "10.1.2.3/32");
    }

    #[test]
    fn a_network_matches_its_range_and_nothing_else() {
        let cidr: IpCidr = "10.0.0.0/8".parse().unwrap();
        assert!(cidr.contains(ip("10.255.0.1")));
        assert!(!cidr.contains(ip("11.0.0.1")));
        assert!(!cidr.contains(ip("::1")));
        let host_bits_set: IpCidr = "192.168.1.77/24".parse().unwrap();
        assert!(host_bits_set.contains(ip("192.168.1.1")));
        assert_eq!(host_bits_set.to_string(), "192.168.1.0/24");
    }

    #[test]
    fn zero_prefix_matches_every_address_of_its_family() {
        let any_v4: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(any_v4.contains(ip("8.8.8.8")));
        assert!(!any_v4.contains(ip("2001:db8::1")));
        let any_v6: IpCidr = "::/0".parse().unwrap();
        assert!(any_v6.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_networks_and_mapped_ipv4_addresses_match() {
        let cidr: IpCidr = "fd00::/8".parse().unwrap();
        assert!(cidr.contains(ip("fd12:3456::1")));
        assert!(!cidr.contains(ip("fe80::1")));
        let v4: IpCidr = "127.0.0.0/8".parse().unwrap();
        assert!(v4.contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn malformed_networks_are_rejected() {
        for text in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host",
        ] {
            assert!(text.parse::<IpCidr>().is_err(), "{text} should not parse");
        }
    }
}
