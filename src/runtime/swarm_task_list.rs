//! Reading a swarm's tasks for `SwarmRuntime`: every task of this server's services with
//! its service, and task deaths polled from their states (Swarm has no task event stream
//! on 20.10's API).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::query_parameters::ListTasksOptionsBuilder;
use futures_util::stream::{BoxStream, StreamExt};

use super::swarm_services::engine;
use super::{InstanceEvent, ReleaseService, RuntimeError, ServiceTask, SwarmServices};

/// How often task states are read for deaths.
const EVENTS_EVERY: Duration = Duration::from_secs(1);

/// Every task of this server's services (of `app`, or all), with its service.
pub(super) async fn list_tasks(
    services: &SwarmServices,
    app: Option<&str>,
    port: u16,
) -> Result<Vec<(ReleaseService, ServiceTask)>, RuntimeError> {
    let ours = services.services(app).await.map_err(engine)?;
    if ours.is_empty() {
        return Ok(Vec::new());
    }
    let by_id: HashMap<&str, &ReleaseService> = ours.iter().map(|s| (s.id.as_str(), s)).collect();
    let filters = HashMap::from([(
        "service".to_owned(),
        ours.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
    )]);
    let options = ListTasksOptionsBuilder::default().filters(&filters).build();
    let docker = &services.docker;
    let tasks = docker
        .api
        .list_tasks(Some(options))
        .await
        .map_err(docker.fail())?;
    let tasks = services.with_places(tasks, port).await.map_err(engine)?;
    Ok(tasks
        .into_iter()
        .filter_map(|t| Some(((*by_id.get(t.service_id.as_str())?).clone(), t)))
        .collect())
}

/// Deaths of tasks, from the task states every `EVENTS_EVERY`: a task seen running that
/// is no longer running, or no longer wanted (its node is down).
pub(super) fn task_events(
    services: SwarmServices,
    port: u16,
) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>> {
    let state = (
        services,
        HashSet::<String>::new(),
        Vec::<InstanceEvent>::new(),
    );
    futures_util::stream::unfold(
        state,
        move |(services, mut running, mut ready)| async move {
            loop {
                if let Some(event) = ready.pop() {
                    return Some((Ok(event), (services, running, ready)));
                }
                tokio::time::sleep(EVENTS_EVERY).await;
                let tasks = match list_tasks(&services, None, port).await {
                    Ok(tasks) => tasks,
                    // Not a manager (yet): nothing runs.
                    Err(RuntimeError::Engine(_)) => continue,
                    Err(e) => return Some((Err(e), (services, running, ready))),
                };
                let mut now = HashSet::new();
                for (_, task) in &tasks {
                    if task.is_running() && task.is_wanted() {
                        now.insert(task.id.clone());
                    } else if running.contains(&task.id) {
                        ready.push(InstanceEvent::Died {
                            id: task.id.clone(),
                            exit_code: task.exit_code.unwrap_or(-1),
                        });
                    }
                }
                running = now;
            }
        },
    )
    .boxed()
}
