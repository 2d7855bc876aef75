//! Benchmark helper for scripts/bench-https: the paas router behind its own TLS listener
//! (the server's SNI resolver and accept loop), routing `bench.localhost` to BACKEND.
//!
//!     https_bench TLS_LISTEN BACKEND CERT_PEM KEY_PEM
//!
//! Not part of paas: it exists to measure it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use paas::router::{
    AppSpec, AppState, EndpointSpec, Listener, RouteSnapshot, Router, RouterSettings,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, backend, cert, key] = args.as_slice() else {
        eprintln!("usage: https_bench TLS_LISTEN BACKEND CERT_PEM KEY_PEM");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("an address like 127.0.0.1:8443");
    let backend: SocketAddr = backend.parse().expect("an address like 127.0.0.1:8080");
    let chain = std::fs::read(cert).expect("the certificate file is readable");
    let key = std::fs::read(key).expect("the key file is readable");
    let loaded = paas::certs::material::load(&chain, &key).expect("a matching certificate and key");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(serve(listen, backend, loaded));
}

async fn serve(listen: SocketAddr, backend: SocketAddr, loaded: paas::certs::Loaded) {
    let router = Router::new(RouterSettings::new("localhost"), drop);
    let snapshot = RouteSnapshot::builder()
        .app(AppSpec {
            name: "bench".to_owned(),
            domains: vec![],
            state: AppState::Serving(vec![EndpointSpec {
                addr: backend,
                dyno: "web.1".to_owned(),
            }]),
        })
        .build()
        .expect("a valid table");
    router.publish(snapshot);
    let names = loaded
        .summary
        .names
        .iter()
        .map(|name| (name.clone(), Arc::clone(&loaded.certified)))
        .collect::<HashMap<_, _>>();
    let config = paas::certs::fixed_server_config(&router, names, Arc::clone(&loaded.certified))
        .expect("a TLS configuration");
    let shutdown = CancellationToken::new();
    let public = Arc::new(Listener::new(router, axum::Router::new(), shutdown.clone()));
    let serve: paas::certs::listener::Serve = {
        let public = Arc::clone(&public);
        Arc::new(move |io, info| public.serve_stream(io, info))
    };
    let listener = TcpListener::bind(listen)
        .await
        .expect("the listen address is free");
    eprintln!("https router listening on {listen}");
    paas::certs::listener::accept_loop(listener, config, serve, shutdown)
        .await
        .expect("the listener serves");
}
