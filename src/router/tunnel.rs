//! Tunnels for upgraded connections (WebSocket and any `101 Switching Protocols`): once
//! both sides have switched, bytes are copied both ways until either side closes, or the
//! sweeper flags the tunnel idle or the listener's drain grace as over. The in-flight lease lives as long
//! as the tunnel, so an endpoint with open WebSockets is not reported drained.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::connection::ConnectionContext;
use super::endpoint::Lease;
use super::upstream::UpstreamConnection;
use super::watch::{CLOSE, IDLE};

pub(crate) fn spawn(
    conn: &ConnectionContext,
    upstream_connection: UpstreamConnection,
    client: OnUpgrade,
    upstream: OnUpgrade,
    lease: Lease,
) {
    // Every tunnel byte crosses the client connection, so its watch sees both directions.
    let watch = Arc::clone(&conn.watch);
    conn.tasks.spawn(async move {
        let _lease = lease;
        // The app's side of the upgrade is handed over once its connection is driven to
        // the end of the 101 response.
        upstream_connection.finish().await;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
        tokio::pin!(copy);
        let copied = poll_fn(|cx| {
            if watch.poll_signals(cx.waker()) & (IDLE | CLOSE) != 0 {
                return Poll::Ready(None);
            }
            copy.as_mut().poll(cx).map(Some)
        })
        .await;
        match copied {
            Some(Err(error)) => tracing::debug!(%error, "tunnel closed with an error"),
            None => tracing::debug!("tunnel idle or shut down, closing"),
            Some(Ok(_)) => {}
        }
    });
}
