//! App process containers: create with the platform's hardening, stop, list by label,
//! inspect.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig,
    HostConfigLogConfig, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use super::{Docker, RuntimeError, env_list, label_filter, labels};

/// The most processes one container may hold: a fork bomb stops here.
const PIDS_LIMIT: i64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// Part of the formation: web, worker...
    Formation,
    /// `paas run`, the release phase, postdeploy.
    OneOff,
}

impl ProcessKind {
    fn label(self) -> &'static str {
        match self {
            ProcessKind::Formation => "process",
            ProcessKind::OneOff => "oneoff",
        }
    }
}

/// Everything needed to start one process of a release.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub app: String,
    pub release: i64,
    pub process_type: String,
    pub index: u32,
    pub kind: ProcessKind,
    pub image: String,
    /// Full argv (the scheduler prefixes the stack's launcher); None runs the image's
    /// own entrypoint and command.
    pub argv: Option<Vec<String>>,
    /// None keeps the image's user (Dockerfile builds).
    pub user: Option<String>,
    pub env: BTreeMap<String, String>,
    pub memory_mb: u32,
    /// Created with stdin open and started by `Runtime::attach`, not by `start`.
    pub interactive: bool,
    /// Given a terminal (a TTY), for `paas run` from a terminal.
    pub tty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    Created,
    Running,
    Exited { code: i64, oom_killed: bool },
    Other(String),
}

/// A process as the engine knows it, with the identity its labels carry.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub app: String,
    pub release: i64,
    pub process_type: String,
    pub index: u32,
    pub one_off: bool,
    /// Created with stdin open for a caller attached to it (`paas run` without --detach).
    pub attached: bool,
    pub state: InstanceState,
    pub ip: Option<IpAddr>,
    /// Where its `PORT` is reached when that is not `ip:PORT`: a swarm task's node
    /// address and host-mode port.
    pub endpoint: Option<std::net::SocketAddr>,
    /// The swarm node it runs on; None on a single host.
    pub node: Option<String>,
    /// Unix seconds of the last start.
    pub started_at: Option<i64>,
}

impl Instance {
    pub fn is_running(&self) -> bool {
        self.state == InstanceState::Running
    }

    /// `web.2`, as Heroku names dynos.
    pub fn dyno(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }
}

impl Docker {
    pub async fn start_process(&self, spec: ProcessSpec) -> Result<Instance, RuntimeError> {
        let network = self.ensure_app_network(&spec.app).await?;
        let suffix: u32 = rand::random::<u32>() % 0x10000;
        let name = format!(
            "paas-{}-{}-{}-v{}-{suffix:04x}",
            spec.app, spec.process_type, spec.index, spec.release
        );
        let mut label_map: HashMap<String, String> = HashMap::new();
        label_map.insert(labels::MANAGED.into(), self.instance.clone());
        label_map.insert(labels::APP.into(), spec.app.clone());
        label_map.insert(labels::RELEASE.into(), spec.release.to_string());
        label_map.insert(labels::PROCESS.into(), spec.process_type.clone());
        label_map.insert(labels::INDEX.into(), spec.index.to_string());
        label_map.insert(labels::KIND.into(), spec.kind.label().into());
        let host_config = hardened(spec.memory_mb, &network, RestartPolicyNameEnum::NO);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: spec.argv.as_ref().map(|_| Vec::new()),
            cmd: spec.argv.clone(),
            env: Some(env_list(&spec.env)),
            user: spec.user.clone(),
            labels: Some(label_map),
            hostname: Some(format!("{}.{}", spec.process_type, spec.index)),
            open_stdin: Some(spec.interactive),
            stdin_once: Some(spec.interactive),
            attach_stdin: Some(spec.interactive),
            attach_stdout: Some(spec.interactive),
            attach_stderr: Some(spec.interactive),
            tty: Some(spec.tty),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some([(network, EndpointSettings::default())].into()),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .api
            .create_container(Some(options), body)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => RuntimeError::ImageMissing(spec.image.clone()),
                other => self.fail()(other),
            })?;
        if !spec.interactive {
            self.start_container(&created.id).await?;
        }
        self.inspect_instance(&created.id)
            .await?
            .ok_or(RuntimeError::ContainerMissing(created.id))
    }

    pub async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.api
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(self.fail())
    }

    /// `docker stop` (SIGTERM, SIGKILL after `grace`), then removal; a container already
    /// gone is not an error.
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let options = StopContainerOptionsBuilder::default()
            .t(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX))
            .build();
        match self.api.stop_container(id, Some(options)).await {
            Ok(()) => {}
            Err(e) if RuntimeError::is_not_found(&e) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(self.fail()(e)),
        }
        self.remove_container(id).await
    }

    pub async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.api.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            // Already being removed by an earlier call.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    pub async fn inspect_instance(&self, id: &str) -> Result<Option<Instance>, RuntimeError> {
        match self
            .api
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(response) => Ok(instance_from(&self.instance, response)),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Containers of `kind` (`process` or `oneoff`) carrying `filters` labels (plus the
    /// managed label), inspected.
    pub async fn list_instances(
        &self,
        kind: ProcessKind,
        filters: &[(&str, &str)],
    ) -> Result<Vec<Instance>, RuntimeError> {
        let mut all = vec![
            (labels::MANAGED, self.instance.as_str()),
            (labels::KIND, kind.label()),
        ];
        all.extend_from_slice(filters);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filter(&all))
            .build();
        let summaries = self
            .api
            .list_containers(Some(options))
            .await
            .map_err(self.fail())?;
        let ids: Vec<String> = summaries.into_iter().filter_map(|s| s.id).collect();
        let inspected =
            futures_util::future::join_all(ids.iter().map(|id| self.inspect_instance(id))).await;
        let mut out = Vec::new();
        for instance in inspected {
            if let Some(instance) = instance? {
                out.push(instance);
            }
        }
        out.sort_by(|a, b| {
            (&a.app, &a.process_type, a.index).cmp(&(&b.app, &b.process_type, b.index))
        });
        Ok(out)
    }

    /// Waits until the container exits; its exit code.
    pub async fn wait_exit(&self, id: &str) -> Result<i64, RuntimeError> {
        use futures_util::StreamExt;
        let mut stream = self
            .api
            .wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(self.fail()(e)),
            None => self
                .inspect_instance(id)
                .await?
                .and_then(|i| match i.state {
                    InstanceState::Exited { code, .. } => Some(code),
                    _ => None,
                })
                .ok_or_else(|| RuntimeError::ContainerMissing(id.to_owned())),
        }
    }
}

/// The host config every paas container gets: docker-init, a memory limit (swap = memory),
/// a pids limit, no capabilities, no new privileges, bounded json-file logs, `network`.
pub(super) fn hardened(
    memory_mb: u32,
    network: &str,
    restart: RestartPolicyNameEnum,
) -> HostConfig {
    let memory = i64::from(memory_mb) * 1024 * 1024;
    HostConfig {
        // docker-init as PID 1 forwards SIGTERM; a shell as PID 1 would ignore it.
        init: Some(true),
        memory: Some(memory),
        memory_swap: Some(memory),
        pids_limit: Some(PIDS_LIMIT),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        network_mode: Some(network.to_owned()),
        restart_policy: Some(RestartPolicy {
            name: Some(restart),
            maximum_retry_count: None,
        }),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(
                [
                    ("max-size".to_owned(), "10m".to_owned()),
                    ("max-file".to_owned(), "2".to_owned()),
                ]
                .into(),
            ),
        }),
        ..Default::default()
    }
}

fn instance_from(instance: &str, r: ContainerInspectResponse) -> Option<Instance> {
    let config = r.config?;
    let labels = config.labels.unwrap_or_default();
    let label = |k: &str| labels.get(k).cloned();
    let state = r.state.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let instance_state = match status.as_str() {
        "running" => InstanceState::Running,
        "created" => InstanceState::Created,
        "exited" | "dead" => InstanceState::Exited {
            code: state.exit_code.unwrap_or(-1),
            oom_killed: state.oom_killed.unwrap_or(false),
        },
        other => InstanceState::Other(other.to_owned()),
    };
    let app = label(labels::APP)?;
    // Its address on the app's network; a process started before apps had networks of
    // their own (on the shared `paas` bridge) keeps the one it has.
    let ip = r
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut nets| {
            let own = nets.remove(&super::networks::network_name(instance, &app));
            own.or_else(|| nets.into_values().next())
                .and_then(|n| n.ip_address)
                .and_then(|ip| ip.parse().ok())
        });
    Some(Instance {
        id: r.id?,
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        app,
        release: label(labels::RELEASE)?.parse().ok()?,
        process_type: label(labels::PROCESS)?,
        index: label(labels::INDEX)?.parse().ok()?,
        one_off: label(labels::KIND).as_deref() == Some("oneoff"),
        attached: config.open_stdin.unwrap_or(false),
        state: instance_state,
        ip,
        endpoint: None,
        node: None,
        started_at: state.started_at.as_deref().and_then(parse_engine_time),
    })
}

/// The engine's RFC 3339 times (nanosecond precision); its zero time means "never".
pub(crate) fn parse_engine_time(raw: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = t.unix_timestamp();
    (secs > 0).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_parse_and_the_zero_time_is_none() {
        assert_eq!(
            parse_engine_time("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_engine_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_engine_time("garbage"), None);
    }
}
