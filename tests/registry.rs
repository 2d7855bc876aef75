//! The registry paas runs on a swarm manager, through the real server, CLI, git and Docker
//! engines: a server whose engine becomes a manager (`swarm:init`) starts Debian's
//! `docker-registry` with TLS from its own CA; a `git push` pushes the release image to it;
//! a node that ran the one command `paas nodes:add` printed (inside the node's namespaces,
//! where its /etc/docker is its own) pulls that image over TLS, and a node that did not
//! trust the CA is refused (x509); after enough pushes, the pruned release's tag and blobs
//! are gone from the registry too. Needs root and `docker-registry`. The host engine is
//! left as it was found, whatever fails (`Cluster`'s Drop).

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::{Cluster, await_registry, swarm_state};
use common::{Run, Server, docker, eventually};

const APP: &str = "regapp";

/// `curl` against the registry's API over TLS, trusting only the server's CA: (status, body).
fn registry_api(server: &Server, registry: &str, method: &str, path: &str) -> (u16, String) {
    let ca = server.data_dir.path().join("certs/ca/ca.crt");
    // HEAD as curl does it (-I), or it waits for a body.
    let verb = if method == "HEAD" {
        vec!["-I"]
    } else {
        vec!["-X", method]
    };
    let run = Run::from(
        Command::new("curl")
            .arg("-sS")
            .args(verb)
            .arg("--cacert")
            .arg(&ca)
            .args([
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                "-w",
                "\n%{http_code}",
            ])
            .arg(format!("https://{registry}/v2/{path}"))
            .output()
            .expect("curl runs"),
    );
    let out = run.ok();
    let (body, code) = out.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status"), body.to_owned())
}

fn tags(server: &Server, registry: &str) -> Vec<String> {
    let (code, body) = registry_api(server, registry, "GET", &format!("paas/{APP}/tags/list"));
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("tags as JSON");
    let mut tags: Vec<String> = list["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    tags.sort();
    tags
}

fn image_id(image: &str) -> String {
    docker(&["image", "inspect", "-f", "{{.Id}}", image])
        .ok()
        .trim()
        .to_owned()
}

#[test]
fn a_node_that_ran_nodes_add_pulls_the_pushed_release_over_tls_and_pruned_releases_leave_the_registry()
 {
    assert_eq!(
        swarm_state(),
        "inactive",
        "the host engine is already in a swarm; leave it first (docker swarm leave --force)"
    );
    let mut cluster = Cluster::up(2);
    let host_addr = cluster.env["SWARM_HOST_ADDR"].clone();
    let registry = format!("{host_addr}:5443");
    cluster.removes_host_trust_of(&registry);
    // One kept release: the third push prunes the first, from the engine and the registry.
    let server = Server::start_with(&[("PAAS_KEEP_RELEASES", "1")]);

    // No swarm yet: a deploy is single-host, nothing pushed.
    let (repo, first) = server.push_new_app("static", APP);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(!first.stderr.contains("swarm registry"), "{}", first.stderr);

    server
        .cli(&["swarm:init", "--advertise-addr", &host_addr])
        .ok();
    // The registry came up without a server restart, on the advertise address.
    let add = server.cli(&["nodes:add"]).ok().to_owned();
    let commands: Vec<&str> = add
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("docker swarm join"))
        .collect();
    assert_eq!(commands.len(), 1, "one command in:\n{add}");
    let command = commands[0];
    let token = command
        .split_whitespace()
        .find(|w| w.starts_with("SWMTKN-"))
        .expect("a join token")
        .to_owned();
    assert!(
        command.contains(&format!("/etc/docker/certs.d/{registry}/ca.crt")),
        "{command}"
    );
    assert!(!command.contains("PRIVATE"), "a key in: {command}");
    await_registry(&server, &registry);

    // Node 1 runs the exact command in its own namespaces.
    cluster.run_on(1, command).ok();
    let trusted = std::path::Path::new(cluster.node(1, "CERTS_D"))
        .join(&registry)
        .join("ca.crt");
    assert_eq!(
        std::fs::read_to_string(&trusted).expect("the node trusts the CA"),
        std::fs::read_to_string(server.data_dir.path().join("certs/ca/ca.crt")).unwrap()
    );
    eventually("node 1 in the swarm", Duration::from_secs(60), || {
        let nodes: Vec<serde_json::Value> =
            serde_json::from_str(server.cli(&["nodes", "--json"]).ok()).expect("nodes");
        nodes
            .iter()
            .any(|n| n["hostname"] == "paassw1" && n["state"] == "ready")
    });

    // A push now goes to the registry, as a step of the build.
    std::fs::write(repo.path().join("index.html"), "<p>second</p>\n").unwrap();
    server.commit_all(repo.path(), "second");
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let build = pushed
        .stderr
        .lines()
        .find_map(|l| {
            l.split(&format!("pushed {registry}/paas/{APP}:"))
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no push line in:\n{}", pushed.stderr));
    assert!(
        pushed.stderr.contains(&format!(
            "-----> Pushing the image to the swarm registry {registry}"
        )),
        "{}",
        pushed.stderr
    );
    let image = format!("{registry}/paas/{APP}:{build}");
    let local_id = image_id(&format!("paas/{APP}:{build}"));

    // The node that trusts the CA pulls it over TLS; the very image the release runs.
    cluster.node_docker(1, &["pull", "-q", &image]).ok();
    let pulled = cluster.node_docker(1, &["image", "inspect", "-f", "{{.Id}}", &image]);
    assert_eq!(pulled.ok().trim(), local_id);
    // The node that did not run the trust step is refused.
    let refused = cluster.node_docker(2, &["pull", "-q", &image]);
    assert_ne!(refused.code, 0, "an untrusting node pulled {image}");
    assert!(refused.stderr.contains("x509"), "{}", refused.stderr);
    assert!(
        !std::path::Path::new(cluster.node(2, "CERTS_D"))
            .join(&registry)
            .exists()
    );

    // Two more pushes: the pushed release is pruned, from the engine and the registry
    // (its tag, its manifest and its config blob, which no other image shares).
    assert_eq!(tags(&server, &registry), std::slice::from_ref(&build));
    for text in ["third", "fourth"] {
        std::fs::write(repo.path().join("index.html"), format!("<p>{text}</p>\n")).unwrap();
        server.commit_all(repo.path(), text);
        let pushed = server.push(repo.path());
        assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    }
    let left = tags(&server, &registry);
    assert!(!left.contains(&build), "{build} still in {left:?}");
    assert!(!left.is_empty() && left.len() <= 2, "{left:?}");
    let gone = docker(&["image", "inspect", &format!("paas/{APP}:{build}")]);
    assert_ne!(gone.code, 0, "paas/{APP}:{build} is still in the engine");
    let (code, body) = registry_api(
        &server,
        &registry,
        "HEAD",
        &format!("paas/{APP}/manifests/{build}"),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = registry_api(
        &server,
        &registry,
        "HEAD",
        &format!("paas/{APP}/blobs/{local_id}"),
    );
    assert_eq!(
        code, 404,
        "the pruned image's config blob is still there: {body}"
    );
    // The kept release still pulls.
    let newest = format!("{registry}/paas/{APP}:{}", left.last().unwrap());
    cluster.node_docker(1, &["pull", "-q", &newest]).ok();

    // The join token is in no event and no log line.
    let events = server.cli(&["events"]).ok().to_owned();
    assert!(
        !events.contains(&token),
        "the token in the events:\n{events}"
    );
    assert!(
        !server.log_text().contains(&token),
        "the token in the server's log"
    );

    drop(server);
    let down = cluster.down();
    assert_eq!(down.code, 0, "swarm-nodes down failed: {}", down.stderr);
    assert_eq!(swarm_state(), "inactive");
    assert!(
        !std::path::Path::new("/etc/docker/certs.d")
            .join(&registry)
            .exists()
    );
}
