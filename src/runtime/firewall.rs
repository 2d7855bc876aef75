//! The host firewall around app networks: a container on any paas bridge (`paas+`) may
//! not open connections to the host itself (the control plane, SSH, a database on the
//! host: anything on any of the host's addresses) nor to link-local addresses (cloud
//! metadata), unless an admin allows a destination with `PAAS_CONTAINER_ALLOW`. Replies
//! to connections the host opened (the router, health checks) pass. Isolation between app
//! networks is the engine's own (its DOCKER-ISOLATION chains).
//!
//! Rules are iptables rules in two chains of our own, `PAAS-INPUT` (jumped to from INPUT)
//! and `PAAS-FORWARD` (from DOCKER-USER), rewritten whole at every server start.
//!
//! On a swarm, tasks publish `PORT` in host mode on each node (`docker_gwbridge`): the
//! fence (`task_port_fence`) drops new connections forwarded to them unless they come from
//! the router's address, so an app is reached only through the router. The manager gets
//! it from `install` (its router's connections are local, never forwarded, so it drops
//! every one); each node from the command `nodes:add` prints.

use std::str::FromStr;

use super::networks::{BRIDGE_PREFIX, InvalidNet, Ipv4Net};

const INPUT_CHAIN: &str = "PAAS-INPUT";
const FORWARD_CHAIN: &str = "PAAS-FORWARD";

/// The bridge behind the host-mode ports swarm tasks publish.
const TASK_BRIDGE: &str = "docker_gwbridge";

/// Metadata services (169.254.169.254) and everything else link-local.
const LINK_LOCAL: &str = "169.254.0.0/16";

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("cannot run iptables ({0}); install iptables and run paas server as root")]
    Spawn(std::io::Error),
    #[error("iptables {args} failed: {stderr}")]
    Rule { args: String, stderr: String },
    #[error(
        "PAAS_CONTAINER_ALLOW entry {0:?} is not ADDRESS[/PREFIX][:PORT], like 192.0.2.10:5432"
    )]
    InvalidAllow(String),
}

/// A destination containers may reach although it is the host or link-local: a network,
/// and optionally one TCP port of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow {
    pub net: Ipv4Net,
    pub port: Option<u16>,
}

impl FromStr for Allow {
    type Err = FirewallError;

    fn from_str(s: &str) -> Result<Self, FirewallError> {
        let invalid = |_| FirewallError::InvalidAllow(s.to_owned());
        let (net, port) = match s.rsplit_once(':') {
            Some((net, port)) => (net, Some(port.parse::<u16>().map_err(|_| invalid(()))?)),
            None => (s, None),
        };
        let net = net.parse().map_err(|_: InvalidNet| invalid(()))?;
        Ok(Allow { net, port })
    }
}

/// The rules of our two chains as `iptables-restore` input: applied in one commit, so
/// servers starting side by side never interleave half-written chains (a REJECT before
/// the conntrack RETURN would cut the host off from every container).
fn chain_rules(allow: &[Allow]) -> String {
    let mut text = format!("*filter\n:{INPUT_CHAIN} - [0:0]\n:{FORWARD_CHAIN} - [0:0]\n");
    for (chain, blocked) in [(INPUT_CHAIN, None), (FORWARD_CHAIN, Some(LINK_LOCAL))] {
        text += &format!("-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n");
        for a in allow {
            match a.port {
                Some(port) => {
                    text += &format!("-A {chain} -d {} -p tcp --dport {port} -j RETURN\n", a.net)
                }
                None => text += &format!("-A {chain} -d {} -j RETURN\n", a.net),
            }
        }
        let dest = blocked.map_or(String::new(), |b| format!(" -d {b}"));
        // A TCP reset, so a blocked connect fails at once instead of hanging.
        text += &format!("-A {chain}{dest} -p tcp -j REJECT --reject-with tcp-reset\n");
        text += &format!("-A {chain}{dest} -j REJECT\n");
    }
    text + "COMMIT\n"
}

/// The jumps into our chains: (parent chain, jump rule) for the bridges of app networks.
fn jumps() -> [(&'static str, Vec<String>); 2] {
    let bridges = format!("{BRIDGE_PREFIX}+");
    let jump = |to: &str| {
        vec![
            "-i".to_owned(),
            bridges.clone(),
            "-j".to_owned(),
            to.to_owned(),
        ]
    };
    [
        ("INPUT", jump(INPUT_CHAIN)),
        ("DOCKER-USER", jump(FORWARD_CHAIN)),
    ]
}

/// The DOCKER-USER rule that closes the host-mode ports of swarm tasks to all but
/// `router` (every source when None: the manager, whose router connects locally).
pub fn task_port_fence(router: Option<std::net::IpAddr>) -> Vec<String> {
    let mut rule: Vec<String> = ["-o", TASK_BRIDGE, "-p", "tcp", "-m", "conntrack"]
        .map(str::to_owned)
        .into();
    rule.extend(["--ctstate".to_owned(), "NEW".to_owned()]);
    if let Some(router) = router {
        rule.extend(["!".to_owned(), "-s".to_owned(), router.to_string()]);
    }
    rule.extend(["-j".to_owned(), "DROP".to_owned()]);
    rule
}

/// The fence as one line of shell for a node: added once, however often it runs.
pub fn task_port_fence_command(router: std::net::IpAddr) -> String {
    let rule = task_port_fence(Some(router)).join(" ");
    format!("(iptables -w -C DOCKER-USER {rule} 2>/dev/null || iptables -w -I DOCKER-USER {rule})")
}

/// Writes the rules; safe to run again (each start rewrites our chains whole).
pub async fn install(allow: &[Allow]) -> Result<(), FirewallError> {
    restore(&chain_rules(allow)).await?;
    let [input, forward] = jumps();
    let fence = ("DOCKER-USER", task_port_fence(None));
    for (parent, jump) in [input, forward, fence] {
        // The engine makes DOCKER-USER when it sets up its own rules; make it if not.
        if parent == "DOCKER-USER" && iptables(&["-L", parent, "-n"]).await.is_err() {
            let _ = iptables(&["-N", parent]).await;
            iptables(&["-I", "FORWARD", "1", "-j", parent]).await?;
        }
        let mut check = vec!["-C".to_owned(), parent.to_owned()];
        check.extend(jump.iter().cloned());
        if iptables(&check).await.is_err() {
            let mut insert = vec!["-I".to_owned(), parent.to_owned(), "1".to_owned()];
            insert.extend(jump);
            iptables(&insert).await?;
        }
    }
    Ok(())
}

/// `iptables-restore --noflush`: declared chains are made or emptied, then filled, in
/// one commit; every other rule of the host stays.
async fn restore(rules: &str) -> Result<(), FirewallError> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(FirewallError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(rules.as_bytes())
            .await
            .map_err(FirewallError::Spawn)?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(FirewallError::Spawn)?;
    if output.status.success() {
        return Ok(());
    }
    Err(FirewallError::Rule {
        args: "-restore --noflush".to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

async fn iptables<S: AsRef<str>>(args: &[S]) -> Result<(), FirewallError> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let output = tokio::process::Command::new("iptables")
        .arg("-w")
        .args(&args)
        .output()
        .await
        .map_err(FirewallError::Spawn)?;
    if output.status.success() {
        return Ok(());
    }
    Err(FirewallError::Rule {
        args: args.join(" "),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_lets_only_the_router_reach_task_ports() {
        let router = "10.99.0.1".parse().unwrap();
        assert_eq!(
            task_port_fence(Some(router)).join(" "),
            "-o docker_gwbridge -p tcp -m conntrack --ctstate NEW ! -s 10.99.0.1 -j DROP"
        );
        assert_eq!(
            task_port_fence(None).join(" "),
            "-o docker_gwbridge -p tcp -m conntrack --ctstate NEW -j DROP"
        );
        let command = task_port_fence_command(router);
        assert!(command.starts_with("(iptables -w -C DOCKER-USER -o docker_gwbridge"));
        assert!(command.contains("|| iptables -w -I DOCKER-USER -o docker_gwbridge"));
    }

    #[test]
    fn allow_entries_parse_with_and_without_a_port() {
        let a: Allow = "192.0.2.10:5432".parse().unwrap();
        assert_eq!(a.net.to_string(), "192.0.2.10/32");
        assert_eq!(a.port, Some(5432));
        let b: Allow = "169.254.169.254/32".parse().unwrap();
        assert_eq!(b.port, None);
        assert!("192.0.2.10:http".parse::<Allow>().is_err());
        assert!("example.com".parse::<Allow>().is_err());
    }

    #[test]
    fn allowed_destinations_come_before_the_rejects() {
        let allow = ["192.0.2.10:5432".parse().unwrap()];
        let text = chain_rules(&allow);
        let input: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("-A PAAS-INPUT"))
            .collect();
        assert!(input[0].ends_with("ESTABLISHED,RELATED -j RETURN"));
        assert_eq!(
            input[1],
            "-A PAAS-INPUT -d 192.0.2.10/32 -p tcp --dport 5432 -j RETURN"
        );
        assert_eq!(
            input[2],
            "-A PAAS-INPUT -p tcp -j REJECT --reject-with tcp-reset"
        );
        assert_eq!(input[3], "-A PAAS-INPUT -j REJECT");
        assert!(text.contains("-A PAAS-FORWARD -d 169.254.0.0/16 -j REJECT\n"));
        assert!(text.starts_with("*filter\n:PAAS-INPUT - [0:0]\n"));
        assert!(text.ends_with("COMMIT\n"));
    }
}
