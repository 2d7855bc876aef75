//! The test cluster: `scripts/swarm-nodes` engines in network namespaces beside the host
//! engine, torn down (with the host's swarm membership and whatever a test registered in
//! its hooks) when dropped. Needs root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use super::{Run, Server, docker, eventually};

/// The node engines of `scripts/swarm-nodes up`, torn down (with the host's swarm
/// membership) when dropped.
pub struct Cluster {
    pub state: PathBuf,
    pub env: HashMap<String, String>,
    up: bool,
}

impl Cluster {
    pub fn up(nodes: u32) -> Cluster {
        let state = tempfile::Builder::new()
            .prefix("paas-swarm-")
            .tempdir_in("/var/tmp")
            .expect("state dir")
            .keep();
        // From here on, Drop cleans up whatever `up` got to.
        let mut cluster = Cluster {
            state,
            env: HashMap::new(),
            up: true,
        };
        let run = cluster.script(&["up", &nodes.to_string()]);
        assert_eq!(run.code, 0, "swarm-nodes up failed: {}", run.stderr);
        let env = std::fs::read_to_string(cluster.state.join("nodes.env")).expect("nodes.env");
        cluster.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        cluster
    }

    pub fn node(&self, i: u32, what: &str) -> &str {
        &self.env[&format!("NODE{i}_{what}")]
    }

    /// `docker -H NODEi_SOCK ARGS`
    pub fn node_docker(&self, i: u32, args: &[&str]) -> Run {
        let sock = self.node(i, "SOCK");
        docker(&[&["-H", sock][..], args].concat())
    }

    /// `server` makes the host engine the manager (`swarm:init` on the cluster's
    /// bridge), its registry answers over TLS, and every node joins (`join`); returns the
    /// registry's address.
    pub fn manage(&self, server: &Server) -> String {
        let host_addr = self.env["SWARM_HOST_ADDR"].clone();
        let registry = format!("{host_addr}:5443");
        self.removes_host_trust_of(&registry);
        server
            .cli(&["swarm:init", "--advertise-addr", &host_addr])
            .ok();
        await_registry(server, &registry);
        self.join(server);
        registry
    }

    /// Node `i` runs `command` (one printed by `nodes:add`) in its own namespaces (its
    /// /etc/docker is its own); its CLI finds its engine through DOCKER_HOST, as a real
    /// host's finds /var/run.
    pub fn run_on(&self, i: u32, command: &str) -> Run {
        Run::from(
            Command::new("nsenter")
                .args(["-t", self.node(i, "PID"), "-m", "-n", "--", "env"])
                .arg(format!("DOCKER_HOST={}", self.node(i, "SOCK")))
                .args(["sh", "-c", command])
                .output()
                .expect("nsenter runs"),
        )
    }

    /// Every node runs the command `paas nodes:add` prints (registry trust, then join), in
    /// its own namespaces so the trust step writes its own certs.d; returns once the
    /// manager lists them all ready.
    pub fn join(&self, server: &Server) {
        let add = server.cli(&["nodes:add"]).ok().to_owned();
        let command = add
            .lines()
            .map(str::trim)
            .find(|l| l.contains("docker swarm join"))
            .unwrap_or_else(|| panic!("no join command in:\n{add}"))
            .to_owned();
        let nodes: u32 = self.env["SWARM_NODES"].parse().expect("SWARM_NODES");
        for i in 1..=nodes {
            self.run_on(i, &command).ok();
        }
        let all = nodes as usize + 1;
        eventually(
            &format!("{all} nodes ready"),
            Duration::from_secs(60),
            || {
                let listed: Vec<serde_json::Value> =
                    serde_json::from_str(server.cli(&["nodes", "--json"]).ok()).expect("nodes");
                listed.len() == all && listed.iter().all(|n| n["state"] == "ready")
            },
        );
    }

    /// A server on the manager writes `/etc/docker/certs.d/REGISTRY/ca.crt` for its
    /// engine's pushes: `down` removes it, unless it was there before.
    pub fn removes_host_trust_of(&self, registry: &str) {
        use std::io::Write;
        let dir = Path::new("/etc/docker/certs.d").join(registry);
        if dir.exists() {
            return;
        }
        let mut hooks = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.join("host-certs-d"))
            .expect("host-certs-d");
        writeln!(hooks, "{}", dir.display()).expect("host-certs-d written");
    }

    pub fn script(&self, args: &[&str]) -> Run {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swarm-nodes");
        let state = self.state.to_str().expect("utf-8 path");
        let output = Command::new(script)
            .args(args)
            .args(["--state", state])
            .output()
            .expect("scripts/swarm-nodes runs");
        Run::from(output)
    }

    pub fn down(&mut self) -> Run {
        self.up = false;
        self.script(&["down"])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.up {
            let run = self.down();
            if run.code != 0 {
                eprintln!("swarm-nodes down failed: {}", run.stderr);
            }
        }
    }
}

/// Waits until `server`'s registry at `registry` answers over TLS with paas's CA.
pub fn await_registry(server: &Server, registry: &str) {
    eventually("the registry answers", Duration::from_secs(30), || {
        Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "--cacert"])
            .arg(server.data_dir.path().join("certs/ca/ca.crt"))
            .arg(format!("https://{registry}/v2/"))
            .status()
            .is_ok_and(|s| s.success())
    });
}

/// The host engine's `LocalNodeState` (`inactive`, `active`).
pub fn swarm_state() -> String {
    docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .ok()
        .trim()
        .to_owned()
}
