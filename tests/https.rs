//! HTTPS end to end: the real `paas server` obtaining certificates from Pebble over the
//! real ACME protocol (TLS-ALPN-01 and HTTP-01), certificates users bring, SNI choices,
//! renewal on start, an unreachable CA; and, in process, the router serving TLS streams
//! (X-Forwarded-Proto, HSTS, https-only redirects, `ConnectionInfo` for the control plane).

mod common;
#[path = "https/pebble.rs"]
mod pebble;
#[path = "router/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, eventually};
use pebble::{
    Pebble, curl_verified, expired_certificate, free_port, served_certificate, user_certificate,
};

const APPS_DOMAIN: &str = "apps.example.com";

/// A server with its ports chosen up front (Pebble must know them before it starts).
struct AcmeSetup {
    server: Server,
    pebble: Pebble,
}

fn start_with_pebble(extra: &[(&str, &str)]) -> AcmeSetup {
    let (http_port, https_port) = (free_port(), free_port());
    let pebble = Pebble::start(http_port, https_port);
    let http_addr = format!("127.0.0.1:{http_port}");
    let https_addr = format!("127.0.0.1:{https_port}");
    let mut env: Vec<(String, String)> = pebble.server_env();
    env.push(("PAAS_HTTP_ADDR".into(), http_addr));
    env.push(("PAAS_HTTPS_ADDR".into(), https_addr));
    env.push(("PAAS_DOMAIN".into(), APPS_DOMAIN.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    AcmeSetup { server, pebble }
}

/// `paas certs -a APP --json` as (hostname, state, reason, issuer) rows.
fn certs(server: &Server, app: &str) -> Vec<serde_json::Value> {
    let out = server.cli(&["certs", "-a", app, "--json"]);
    serde_json::from_str(out.ok()).expect("certs --json answers JSON")
}

fn cert_of(server: &Server, app: &str, host: &str) -> serde_json::Value {
    certs(server, app)
        .into_iter()
        .find(|c| c["hostname"] == host)
        .unwrap_or_else(|| panic!("no certificate row for {host}"))
}

fn wait_for_state(setup: &AcmeSetup, app: &str, host: &str, state: &str) {
    wait_for(&setup.server, &setup.pebble, app, host, state);
}

fn wait_for(server: &Server, pebble: &Pebble, app: &str, host: &str, state: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let row = cert_of(server, app, host);
        if row["state"] == state {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "{host} never became {state}: {row}\nserver log:\n{}\npebble log:\n{}",
                server.log_text(),
                pebble.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_app_domain_gets_a_certificate_that_curl_verifies_against_pebbles_ca() {
    let setup = start_with_pebble(&[]);
    let server = &setup.server;
    server.cli(&["apps:create", "blog"]).ok();
    let host = format!("blog.{APPS_DOMAIN}");
    wait_for_state(&setup, "blog", &host, "valid");
    let root = setup.pebble.issuing_root();
    let (code, status) = curl_verified(server.https_port, &host, &root, "/");
    assert_eq!(code, 0, "curl could not verify the certificate of {host}");
    assert_eq!(status, "503", "the never-deployed page comes over HTTPS");
    let row = cert_of(server, "blog", &host);
    assert_eq!(row["source"], "acme");
    assert!(row["issuer"].as_str().unwrap().contains("Pebble"), "{row}");
    assert!(row["expires_at"].as_str().is_some(), "{row}");
    let key = server
        .data_dir
        .path()
        .join(format!("certs/acme/{host}.key"));
    let mode = std::fs::metadata(&key).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
        0,
        "the key is private"
    );
    let logs = server.cli(&["logs", "-a", "blog", "-n", "50"]);
    assert!(
        logs.ok()
            .contains(&format!("certificate for {host} issued")),
        "{}",
        logs.stdout
    );
}

#[test]
fn a_domain_added_while_running_gets_its_certificate_without_a_restart() {
    let setup = start_with_pebble(&[]);
    let server = &setup.server;
    server.cli(&["apps:create", "shop"]).ok();
    wait_for_state(&setup, "shop", &format!("shop.{APPS_DOMAIN}"), "valid");
    server
        .cli(&["domains:add", "www.shop.example.org", "-a", "shop"])
        .ok();
    wait_for_state(&setup, "shop", "www.shop.example.org", "valid");
    let root = setup.pebble.issuing_root();
    let (code, _) = curl_verified(server.https_port, "www.shop.example.org", &root, "/");
    assert_eq!(code, 0, "the new domain's certificate verifies");
}

#[test]
fn http_01_challenges_are_answered_on_the_plain_listener() {
    let setup = start_with_pebble(&[("PAAS_ACME_CHALLENGE", "http-01")]);
    let server = &setup.server;
    server.cli(&["apps:create", "docs"]).ok();
    let host = format!("docs.{APPS_DOMAIN}");
    wait_for_state(&setup, "docs", &host, "valid");
    let (code, _) = curl_verified(server.https_port, &host, &setup.pebble.issuing_root(), "/");
    assert_eq!(code, 0);
}

#[test]
fn an_expired_stored_certificate_is_renewed_on_start() {
    let AcmeSetup { mut server, pebble } = start_with_pebble(&[]);
    server.cli(&["apps:create", "news"]).ok();
    let host = format!("news.{APPS_DOMAIN}");
    wait_for(&server, &pebble, "news", &host, "valid");
    server.terminate();
    let (chain, key) = expired_certificate(&host);
    let acme = server.data_dir.path().join("certs/acme");
    std::fs::write(acme.join(format!("{host}.crt")), chain).unwrap();
    std::fs::write(acme.join(format!("{host}.key")), key).unwrap();
    assert_eq!(
        served_certificate(server.https_port, &host),
        None,
        "the server is stopped"
    );
    let server = server.restart();
    let now = paas::domain::Timestamp::now();
    eventually(
        "the expired certificate to be replaced",
        Duration::from_secs(90),
        || {
            served_certificate(server.https_port, &host)
                .is_some_and(|c| c.not_after > now && c.issuer.contains("Pebble"))
        },
    );
    let (code, _) = curl_verified(server.https_port, &host, &pebble.issuing_root(), "/");
    assert_eq!(code, 0);
    assert!(
        server.log_text().contains("ordering a certificate"),
        "the restarted server ordered a new certificate:\n{}",
        server.log_text()
    );
}

#[test]
fn an_unreachable_ca_leaves_the_state_failed_with_the_reason_and_plain_http_served() {
    let closed = free_port();
    let server = Server::start_with(&[
        ("PAAS_ACME_EMAIL", "ops@example.com"),
        (
            "PAAS_ACME_DIRECTORY",
            &format!("https://127.0.0.1:{closed}/dir"),
        ),
        ("PAAS_DOMAIN", APPS_DOMAIN),
    ]);
    server.cli(&["apps:create", "wiki"]).ok();
    let host = format!("wiki.{APPS_DOMAIN}");
    eventually("the certificate to fail", Duration::from_secs(30), || {
        cert_of(&server, "wiki", &host)["state"] == "failed"
    });
    let row = cert_of(&server, "wiki", &host);
    let reason = row["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("127.0.0.1:{closed}")) && reason.contains("refused"),
        "the reason names the directory and the cause: {reason}"
    );
    let table = server.cli(&["certs", "-a", "wiki"]);
    assert!(table.ok().contains("failed"), "{}", table.stdout);
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Host: {host}"))
        .arg(format!("{}/", server.url))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "503",
        "plain HTTP still routes"
    );
    let logs = server.cli(&["logs", "-a", "wiki", "-n", "50"]);
    assert!(
        logs.ok()
            .contains(&format!("certificate for {host} failed")),
        "the failure reaches the app's log: {}",
        logs.stdout
    );
}

#[test]
fn a_user_supplied_certificate_is_served_for_its_host_only() {
    let server = Server::start();
    server.cli(&["apps:create", "corp"]).ok();
    server.cli(&["apps:create", "other"]).ok();
    server
        .cli(&["domains:add", "intranet.corp.example", "-a", "corp"])
        .ok();
    server
        .cli(&["domains:add", "other.corp.example", "-a", "other"])
        .ok();
    let dir = tempfile::tempdir().unwrap();
    let (ca, chain, key) = user_certificate(&["*.corp.example"], "Corp Internal CA");
    let (ca_file, cert_file, key_file) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&cert_file, &chain).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let cert_arg = cert_file.to_str().unwrap();
    let key_arg = key_file.to_str().unwrap();

    let mismatched = server.cli(&["certs:add", "-a", "corp", cert_arg, cert_arg]);
    assert!(
        mismatched.fails().contains("private key"),
        "{}",
        mismatched.stderr
    );
    server
        .cli(&["certs:add", "-a", "corp", cert_arg, key_arg])
        .ok();

    let (code, status) = curl_verified(server.https_port, "intranet.corp.example", &ca_file, "/");
    assert_eq!((code, status.as_str()), (0, "503"));
    let row = cert_of(&server, "corp", "intranet.corp.example");
    assert_eq!(
        (row["source"].as_str(), row["state"].as_str()),
        (Some("user"), Some("valid"))
    );
    assert_eq!(row["issuer"], "Corp Internal CA");

    // The wildcard also names the other app's domain, but that app never gets it.
    let other = served_certificate(server.https_port, "other.corp.example").unwrap();
    assert_eq!(other.issuer, "paas self-signed");
    let (code, _) = curl_verified(server.https_port, "other.corp.example", &ca_file, "/");
    assert_ne!(code, 0);

    let keys: Vec<_> = std::fs::read_dir(server.data_dir.path().join("certs/user"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert_eq!(keys.len(), 1);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&keys[0]).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        !server.log_text().contains(&key_body),
        "the key never reaches the log"
    );
    let listed = server.cli(&["certs", "-a", "corp", "--json"]);
    assert!(!listed.ok().contains(&key_body));

    server
        .cli(&["certs:remove", "-a", "corp", "intranet.corp.example"])
        .ok();
    let after = served_certificate(server.https_port, "intranet.corp.example").unwrap();
    assert_eq!(after.issuer, "paas self-signed");
    assert!(
        std::fs::read_dir(server.data_dir.path().join("certs/user"))
            .unwrap()
            .next()
            .is_none(),
        "the files go with the certificate"
    );
}

#[test]
fn a_wildcard_domains_certificate_is_never_served_for_another_tenants_name_under_it() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli(&["apps:create", "corp"]).ok();
    server
        .cli(&["domains:add", "*.corp.example", "-a", "corp"])
        .ok();
    let dir = tempfile::tempdir().unwrap();
    let (_, chain, key) = user_certificate(&["*.corp.example"], "Corp Wildcard CA");
    let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_file, chain).unwrap();
    std::fs::write(&key_file, key).unwrap();
    server
        .cli(&[
            "certs:add",
            "-a",
            "corp",
            cert_file.to_str().unwrap(),
            key_file.to_str().unwrap(),
        ])
        .ok();
    let covered = served_certificate(server.https_port, "eu.corp.example").unwrap();
    assert_eq!(covered.issuer, "Corp Wildcard CA");
    // A member's app takes one name under the wildcard: it routes to them, and it must
    // not be served (nor listed) with corp's certificate.
    server.cli_with_token(&alice, &["apps:create", "mine"]).ok();
    server
        .cli_with_token(&alice, &["domains:add", "shop.corp.example", "-a", "mine"])
        .ok();
    let served = served_certificate(server.https_port, "shop.corp.example").unwrap();
    assert_eq!(served.issuer, "paas self-signed");
    let listed = server.cli_with_token(&alice, &["certs", "-a", "mine", "--json"]);
    assert!(
        !listed.ok().contains("Corp Wildcard CA"),
        "{}",
        listed.stdout
    );
}

#[test]
fn an_unknown_server_name_gets_the_default_certificate_never_another_apps() {
    let server = Server::start();
    server.cli(&["apps:create", "corp"]).ok();
    server
        .cli(&["domains:add", "www.corp.example", "-a", "corp"])
        .ok();
    let dir = tempfile::tempdir().unwrap();
    let (_, chain, key) = user_certificate(&["www.corp.example"], "Corp CA");
    std::fs::write(dir.path().join("c.pem"), chain).unwrap();
    std::fs::write(dir.path().join("k.pem"), key).unwrap();
    server
        .cli(&[
            "certs:add",
            "-a",
            "corp",
            dir.path().join("c.pem").to_str().unwrap(),
            dir.path().join("k.pem").to_str().unwrap(),
        ])
        .ok();
    let own = served_certificate(server.https_port, "www.corp.example").unwrap();
    assert_eq!(own.issuer, "Corp CA");
    for name in [
        "unknown.example.net",
        "corp.example",
        "a.www.corp.example",
        "localhost",
    ] {
        let served = served_certificate(server.https_port, name)
            .unwrap_or_else(|| panic!("{name}: the handshake completes"));
        assert_eq!(served.issuer, "paas self-signed", "{name}");
        assert!(!served.names.contains(&"www.corp.example".to_owned()));
    }
}

#[test]
fn https_only_apps_redirect_plain_http_with_a_308_to_the_https_port() {
    let server = Server::start();
    server.cli(&["apps:create", "blog"]).ok();
    let request = || {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
                "-H",
            ])
            .arg(format!("Host: blog.localhost:{}", server.port))
            .arg(format!("{}/posts?page=2", server.url))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(request(), "503 ");
    let shown = server.cli(&["domains:https-only", "-a", "blog", "on"]);
    assert!(shown.ok().contains("https-only: on"), "{}", shown.stdout);
    assert_eq!(
        request(),
        format!(
            "308 https://blog.localhost:{}/posts?page=2",
            server.https_port
        )
    );
    server
        .cli(&["domains:https-only", "-a", "blog", "off"])
        .ok();
    assert_eq!(request(), "503 ");
}

mod in_process {
    //! The router behind a real TLS listener, with an echo backend as the app.

    use super::support::{echo_backend, serving};
    use super::*;
    use axum::Extension;
    use paas::router::{AppHttps, ConnectionInfo, HttpsPolicies, Listener, Router, RouterSettings};
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    struct TlsRouter {
        router: Router,
        plain: std::net::SocketAddr,
        tls: std::net::SocketAddr,
        ca_pem: String,
        shutdown: CancellationToken,
    }

    async fn start() -> TlsRouter {
        let router = Router::new(RouterSettings::new("localhost"), |_| {});
        let control = axum::Router::new().route(
            "/tls",
            axum::routing::get(|Extension(info): Extension<ConnectionInfo>| async move {
                format!("is_tls={}", info.is_tls)
            }),
        );
        let shutdown = CancellationToken::new();
        let public = Arc::new(Listener::new(router.clone(), control, shutdown.clone()));
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (plain_addr, tls_addr) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
        let (ca_pem, chain, key) = user_certificate(&["localhost", "www.example.com"], "Test CA");
        let loaded = paas::certs::material::load(chain.as_bytes(), key.as_bytes()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            loaded.certified.cert.clone(),
            <rustls::pki_types::PrivateKeyDer as rustls::pki_types::pem::PemObject>::from_pem_slice(
                key.as_bytes(),
            )
            .unwrap(),
        )
        .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio::spawn({
            let public = Arc::clone(&public);
            async move { public.accept_loop(plain).await }
        });
        let serve: paas::certs::listener::Serve = {
            let public = Arc::clone(&public);
            Arc::new(move |io, info| public.serve_stream(io, info))
        };
        tokio::spawn(paas::certs::listener::accept_loop(
            tls,
            Arc::new(config),
            serve,
            shutdown.clone(),
        ));
        TlsRouter {
            router,
            plain: plain_addr,
            tls: tls_addr,
            ca_pem,
            shutdown,
        }
    }

    fn client(setup: &TlsRouter) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(setup.ca_pem.as_bytes()).unwrap()])
            .resolve("www.example.com", setup.tls)
            .resolve("localhost", setup.tls)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn tls_requests_reach_the_app_marked_https_with_hsts_when_asked() {
        let setup = start().await;
        let app = echo_backend("blog").await;
        let snapshot = paas::router::RouteSnapshot::builder()
            .app(serving("blog", &["www.example.com"], &[app]))
            .build()
            .unwrap();
        setup.router.publish(snapshot);
        setup.router.https().set_policies(HttpsPolicies {
            https_port: setup.tls.port(),
            apps: [(
                "blog".to_owned(),
                AppHttps {
                    https_only: true,
                    hsts_max_age: Some(600),
                },
            )]
            .into(),
        });
        let client = client(&setup);
        let url = format!("https://www.example.com:{}/a?b=1", setup.tls.port());
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=600"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("x-forwarded-proto=https"), "{body}");
        assert!(
            body.contains(&format!("x-forwarded-port={}", setup.tls.port())),
            "{body}"
        );

        let plain = client
            .get(format!("http://{}/a?b=1", setup.plain))
            .header("host", "www.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 308);
        assert_eq!(
            plain.headers()["location"],
            format!("https://www.example.com:{}/a?b=1", setup.tls.port()).as_str()
        );
        assert!(plain.headers().get("strict-transport-security").is_none());
        setup.shutdown.cancel();
    }

    #[tokio::test]
    async fn the_control_plane_learns_whether_tls_carried_the_request() {
        let setup = start().await;
        let client = client(&setup);
        let over_tls = client
            .get(format!("https://localhost:{}/tls", setup.tls.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(over_tls, "is_tls=true");
        let plain = client
            .get(format!("http://{}/tls", setup.plain))
            .header("host", "localhost")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(plain, "is_tls=false");
        setup.shutdown.cancel();
    }
}
