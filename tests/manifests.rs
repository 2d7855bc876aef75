//! Manifests written for Heroku and Dokku deploy unchanged (issue 14): what is read so far.

mod common;

use common::Server;

#[test]
fn a_dokku_app_json_with_comments_deploys_and_its_startup_check_gates_the_rollout() {
    // A failing startup check fails the release after the boot timeout: keep it short.
    let server = Server::start_with(&[("PAAS_BOOT_TIMEOUT", "15")]);
    let repo = server.deploy("healthcheck-path", "checked");
    assert_eq!(
        server.get("checked", "/healthz"),
        (200, "healthy\n".to_owned())
    );

    // The same app with its startup check on a path it does not answer: the new release
    // never gets routed, and the old one keeps serving.
    let manifest = repo.path().join("app.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"/healthz\"", "\"/missing\"")).unwrap();
    server.commit_all(repo.path(), "check a path the app does not answer");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "the push must fail: {}", pushed.stderr);
    assert!(pushed.stderr.contains("/missing"), "{}", pushed.stderr);
    assert_eq!(server.get("checked", "/healthz").0, 200);

    // A real syntax error is refused with its line and column, and the app keeps serving.
    std::fs::write(
        &manifest,
        "{\n  // fine\n  \"formation\": {\n    \"web\": }\n}\n",
    )
    .unwrap();
    server.commit_all(repo.path(), "broken app.json");
    let broken = server.push(repo.path());
    assert_ne!(broken.code, 0);
    assert!(broken.stderr.contains("line 4 column"), "{}", broken.stderr);
    assert_eq!(server.get("checked", "/healthz").0, 200);
}
