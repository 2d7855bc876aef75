//! `Runtime` for one Docker engine: each process is a container on its app's own bridge
//! network, reached at its own address.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::BoxStream;

use super::{
    Attached, Docker, Instance, InstanceEvent, LogStream, ProcessKind, ProcessSpec, Runtime,
    RuntimeError, labels,
};
use futures_util::future::BoxFuture;

impl Runtime for Docker {
    fn start(&self, spec: ProcessSpec) -> BoxFuture<'_, Result<Instance, RuntimeError>> {
        Box::pin(self.start_process(spec))
    }

    fn stop(&self, id: &str, grace: Duration) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move { self.stop_and_remove(&id, grace).await })
    }

    fn restart(&self, id: &str) -> BoxFuture<'_, Result<Instance, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.api
                .restart_container(
                    &id,
                    None::<bollard::query_parameters::RestartContainerOptions>,
                )
                .await
                .map_err(self.fail())?;
            self.inspect_instance(&id)
                .await?
                .ok_or(RuntimeError::ContainerMissing(id))
        })
    }

    fn list(&self, app: Option<&str>) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        let app = app.map(str::to_owned);
        Box::pin(async move {
            match &app {
                Some(app) => {
                    self.list_instances(ProcessKind::Formation, &[(labels::APP, app)])
                        .await
                }
                None => self.list_instances(ProcessKind::Formation, &[]).await,
            }
        })
    }

    fn one_offs(&self) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        Box::pin(self.list_instances(ProcessKind::OneOff, &[]))
    }

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<Option<Instance>, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move { self.inspect_instance(&id).await })
    }

    fn wait(&self, id: &str) -> BoxFuture<'_, Result<i64, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move { self.wait_exit(&id).await })
    }

    fn logs(&self, id: &str, since: i64, follow: bool) -> LogStream {
        self.follow_logs(id, since, follow)
    }

    fn attach(&self, id: &str) -> BoxFuture<'_, Result<Attached, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move { self.attach_and_start(&id).await })
    }

    fn resize(&self, id: &str, cols: u16, rows: u16) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move { self.resize_terminal(&id, cols, rows).await })
    }

    fn events(&self) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>> {
        self.instance_events()
    }

    fn prepare_app(&self, app: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let app = app.to_owned();
        Box::pin(async move { self.ensure_app_network(&app).await.map(drop) })
    }

    fn forget_app(&self, app: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let app = app.to_owned();
        Box::pin(async move { self.remove_app_network(&app).await })
    }

    fn endpoint(&self, instance: &Instance, port: u16) -> Option<SocketAddr> {
        instance.ip.map(|ip| SocketAddr::new(ip, port))
    }
}
