//! A release's process types as Swarm services (the `PAAS_SCHEDULER=swarm` backend's
//! runtime layer), through a swarm manager's engine: the app's overlay network, a service
//! per process type of a release from its spec (`swarm_service_spec.rs`), its image pinned
//! by the digest paas's registry holds, the tasks of a service with the endpoint the router
//! reaches each one at, scaling, removal and listing for adoption.
//!
//! Moving routes between releases, health checks and draining are the reconciler's; only
//! a swarm manager's engine answers these calls.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use bollard::models::{
    NetworkCreateRequest, Service, ServiceSpecMode, ServiceSpecModeReplicated, Task,
};
use bollard::query_parameters::{
    InspectContainerOptions, InspectNetworkOptions, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};

use super::swarm_service_spec::{
    ReleaseService, ReleaseServiceSpec, ServiceTask, ipv4_binding, node_place, overlay_name,
    pinned, release_service, service_name, service_spec, service_task,
};
use super::{Docker, RuntimeError, SwarmError, label_filter, labels};

#[derive(Debug, thiserror::Error)]
pub enum SwarmServiceError {
    #[error("no service {0} in the swarm; see docker service ls")]
    NoService(String),
    #[error(
        "cannot resolve {image} in the swarm registry ({reason}); push the app again (git push)"
    )]
    NotInRegistry { image: String, reason: String },
    #[error(
        "service {0} exists but is not this paas server's (its paas.managed label differs); remove it or use another app name"
    )]
    NotOurs(String),
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error(transparent)]
    Engine(#[from] RuntimeError),
}

/// A service error as the `Runtime` says it: the engine's own error as it came.
pub(super) fn engine(e: SwarmServiceError) -> RuntimeError {
    match e {
        SwarmServiceError::Engine(e) => e,
        other => RuntimeError::Engine(other.to_string()),
    }
}

/// Swarm services of releases, through a manager's engine.
#[derive(Clone)]
pub struct SwarmServices {
    pub(super) docker: Docker,
}

impl SwarmServices {
    pub fn new(docker: Docker) -> SwarmServices {
        SwarmServices { docker }
    }

    fn fail(&self) -> impl Fn(bollard::errors::Error) -> SwarmServiceError + '_ {
        move |e| SwarmServiceError::Engine(RuntimeError::from_bollard(&self.docker.host, e))
    }

    /// Makes `app`'s overlay network if it is not there yet; returns its name.
    pub async fn ensure_app_network(&self, app: &str) -> Result<String, SwarmServiceError> {
        self.docker.manager().await?;
        let name = overlay_name(app);
        let api = &self.docker.api;
        match api
            .inspect_network(&name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(name),
            Err(e) if RuntimeError::is_not_found(&e) => {}
            Err(e) => return Err(self.fail()(e)),
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".to_owned()),
            attachable: Some(true),
            labels: Some(HashMap::from([
                (labels::MANAGED.to_owned(), self.docker.instance.clone()),
                (labels::APP.to_owned(), app.to_owned()),
            ])),
            ..Default::default()
        };
        match api.create_network(request).await {
            Ok(_) => {}
            // Made meanwhile by another call.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(e) => return Err(self.fail()(e)),
        }
        // Add-ons attached before the app had an overlay join it now.
        for addon in self.docker.addons_of_app(app).await? {
            self.docker.join_overlay(&addon, app).await?;
        }
        Ok(name)
    }

    /// Removes `app`'s overlay network, once its services are gone; gone already is fine.
    pub async fn remove_app_network(&self, app: &str) -> Result<(), SwarmServiceError> {
        match self.docker.api.remove_network(&overlay_name(app)).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Creates the service of `spec` (and the app's network, if need be); returns its
    /// id. A service of that name made by this server already is returned as it is.
    pub async fn create_release_service(
        &self,
        spec: &ReleaseServiceSpec,
    ) -> Result<String, SwarmServiceError> {
        let name = service_name(&spec.app, &spec.process_type, spec.release);
        if let Some(id) = self.existing(&name).await? {
            return Ok(id);
        }
        self.ensure_app_network(&spec.app).await?;
        let image = pinned(&spec.image, &self.digest(&spec.image).await?);
        let body = service_spec(spec, &self.docker.instance, &image);
        match self.docker.api.create_service(body, None).await {
            Ok(created) => created.id.ok_or_else(|| {
                RuntimeError::Engine(format!("the engine gave service {name} no id")).into()
            }),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => self
                .existing(&name)
                .await?
                .ok_or(SwarmServiceError::NoService(name)),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Service `name` if this server made it, None if there is none; an error if someone
    /// else made it (paas never changes what is not its own).
    async fn ours(&self, name: &str) -> Result<Option<Service>, SwarmServiceError> {
        match self.docker.api.inspect_service(name, None).await {
            Ok(service) if release_service(service.clone(), &self.docker.instance).is_some() => {
                Ok(Some(service))
            }
            Ok(_) => Err(SwarmServiceError::NotOurs(name.to_owned())),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail()(e)),
        }
    }

    async fn existing(&self, name: &str) -> Result<Option<String>, SwarmServiceError> {
        Ok(self.ours(name).await?.map(|s| s.id.unwrap_or_default()))
    }

    /// The digest of `image` in its registry, as the manager's engine resolves it.
    async fn digest(&self, image: &str) -> Result<String, SwarmServiceError> {
        let refused = |reason: String| SwarmServiceError::NotInRegistry {
            image: image.to_owned(),
            reason,
        };
        let inspect = self
            .docker
            .api
            .inspect_registry_image(image, None)
            .await
            .map_err(|e| match RuntimeError::from_bollard(&self.docker.host, e) {
                RuntimeError::Engine(reason) => refused(reason),
                other => SwarmServiceError::Engine(other),
            })?;
        inspect
            .descriptor
            .digest
            .ok_or_else(|| refused("the registry gave no digest".to_owned()))
    }

    /// Every task the manager keeps of `service` (running or not), by slot, each with
    /// its node and, when running, the endpoint the router reaches it at.
    pub async fn tasks(
        &self,
        service: &str,
        port: u16,
    ) -> Result<Vec<ServiceTask>, SwarmServiceError> {
        let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let api = &self.docker.api;
        let tasks = match api.list_tasks(Some(options)).await {
            Ok(tasks) => tasks,
            Err(e) if RuntimeError::is_not_found(&e) => Vec::new(),
            Err(e) => return Err(self.fail()(e)),
        };
        self.with_places(tasks, port).await
    }

    /// The engine's tasks as paas needs them, each with its node's name and address.
    pub(super) async fn with_places(
        &self,
        tasks: Vec<Task>,
        port: u16,
    ) -> Result<Vec<ServiceTask>, SwarmServiceError> {
        let nodes: HashMap<String, (String, Option<IpAddr>)> = self
            .docker
            .api
            .list_nodes(None)
            .await
            .map_err(self.fail())?
            .iter()
            .map(|n| (n.id.clone().unwrap_or_default(), node_place(n)))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            let mut task = service_task(task, &nodes, port);
            if !task.unresolved_ports.is_empty() {
                self.resolve_locally(&mut task, port).await?;
            }
            out.push(task);
        }
        out.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
        Ok(out)
    }

    /// This server's service `name`, if there is one.
    pub async fn service(&self, name: &str) -> Result<Option<ReleaseService>, SwarmServiceError> {
        let instance = &self.docker.instance;
        Ok(self
            .ours(name)
            .await?
            .and_then(|s| release_service(s, instance)))
    }

    /// A task whose listed ports disagree, running on the manager itself: its container
    /// here says which binding is IPv4. Tasks on other nodes keep `unresolved_ports`.
    async fn resolve_locally(
        &self,
        task: &mut ServiceTask,
        port: u16,
    ) -> Result<(), SwarmServiceError> {
        let (Some(container), Some(addr)) = (&task.container_id, task.node_addr) else {
            return Ok(());
        };
        let inspect = match self
            .docker
            .api
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspect) => inspect,
            // On another node's engine.
            Err(e) if RuntimeError::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(self.fail()(e)),
        };
        let ports = inspect
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default();
        if let Some(host_port) = ipv4_binding(&ports, port) {
            task.endpoint = Some(SocketAddr::new(addr, host_port));
            task.unresolved_ports.clear();
        }
        Ok(())
    }

    /// Sets the number of tasks of `service`.
    pub async fn scale(&self, service: &str, replicas: u64) -> Result<(), SwarmServiceError> {
        let current = self
            .ours(service)
            .await?
            .ok_or_else(|| SwarmServiceError::NoService(service.to_owned()))?;
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        // The engine replaces the whole spec: send it back with the one field changed.
        let mut spec = current.spec.unwrap_or_default();
        spec.mode = Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::try_from(replicas).unwrap_or(i64::MAX)),
            }),
            ..Default::default()
        });
        let options = UpdateServiceOptionsBuilder::default()
            .version(i32::try_from(version).unwrap_or(i32::MAX))
            .build();
        self.docker
            .api
            .update_service(service, spec, options, None)
            .await
            .map_err(self.fail())?;
        Ok(())
    }

    /// Removes `service` and so its tasks; gone already is fine.
    pub async fn remove(&self, service: &str) -> Result<(), SwarmServiceError> {
        if self.ours(service).await?.is_none() {
            return Ok(());
        }
        match self.docker.api.delete_service(service).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// This server's services of `app`, by release then process type.
    pub async fn services_of(&self, app: &str) -> Result<Vec<ReleaseService>, SwarmServiceError> {
        self.services(Some(app)).await
    }

    /// This server's services, of `app` or of every app.
    pub async fn services(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<ReleaseService>, SwarmServiceError> {
        self.docker.manager().await?;
        let instance = &self.docker.instance;
        let mut pairs = vec![(labels::MANAGED, instance.as_str())];
        pairs.extend(app.map(|app| (labels::APP, app)));
        let filters = label_filter(&pairs);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let services = self
            .docker
            .api
            .list_services(Some(options))
            .await
            .map_err(self.fail())?;
        let mut out: Vec<ReleaseService> = services
            .into_iter()
            .filter_map(|s| release_service(s, instance))
            .collect();
        out.sort_by(|a, b| (a.release, &a.process_type).cmp(&(b.release, &b.process_type)));
        Ok(out)
    }
}
