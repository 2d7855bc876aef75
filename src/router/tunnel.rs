//! Tunnels for upgraded connections (WebSocket and any `101 Switching Protocols`): once
//! both sides have switched, bytes are copied both ways until either side closes, the
//! tunnel goes idle, or the listener's drain grace ends. The in-flight lease lives as long
//! as the tunnel, so an endpoint with open WebSockets is not reported drained.

use std::sync::Arc;
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::connection::{ConnectionContext, until_idle};
use super::endpoint::Lease;

pub(crate) fn spawn(
    conn: &ConnectionContext,
    client: OnUpgrade,
    upstream: OnUpgrade,
    lease: Lease,
    idle_timeout: Duration,
) {
    let activity = Arc::clone(&conn.activity);
    let hard_stop = conn.hard_stop.clone();
    conn.tasks.spawn(async move {
        let _lease = lease;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                if let Err(error) = copied {
                    tracing::debug!(%error, "tunnel closed with an error");
                }
            }
            // Every tunnel byte crosses the client connection, so its counter sees both ways.
            () = until_idle(&activity, idle_timeout) => tracing::debug!("tunnel idle, closing"),
            () = hard_stop.cancelled() => {}
        }
    });
}
