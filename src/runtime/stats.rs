//! What the engine reports of each running process of an app: memory in use and CPU time
//! so far, from one-shot container stats (no stream is kept open).

use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use futures_util::StreamExt;

use super::{Docker, RuntimeError, label_filter, labels};

/// The `paas.kind` label of formation processes (`ProcessKind::Formation`).
const FORMATION: &str = "process";

/// Stats calls in flight at once: each takes the engine a moment of cgroup reading.
const ENGINE_CALLS_AT_ONCE: usize = 8;

/// One running process's resource use at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    pub container_id: String,
    pub app: String,
    /// `web.1`
    pub dyno: String,
    /// Memory in use, without the page cache the kernel may drop (as `docker stats` shows).
    pub memory_bytes: u64,
    /// CPU time used since the container started, in nanoseconds.
    pub cpu_total_ns: u64,
}

impl Docker {
    /// The resource use of every running formation process of this server (one-offs are
    /// not counted), a few engine calls at a time; a process that stops meanwhile is left
    /// out.
    pub async fn process_stats(&self) -> Result<Vec<ProcessStats>, RuntimeError> {
        let filters = [
            (labels::MANAGED, self.instance.as_str()),
            (labels::KIND, FORMATION),
        ];
        let options = ListContainersOptionsBuilder::default()
            .filters(&label_filter(&filters))
            .build();
        let running = self
            .api
            .list_containers(Some(options))
            .await
            .map_err(self.fail())?;
        let wanted = running.into_iter().filter_map(|c| {
            let labels = c.labels.unwrap_or_default();
            let dyno = format!(
                "{}.{}",
                labels.get(labels::PROCESS)?,
                labels.get(labels::INDEX)?
            );
            Some((c.id?, labels.get(labels::APP)?.clone(), dyno))
        });
        let mut out: Vec<ProcessStats> = futures_util::stream::iter(wanted)
            .map(|(id, app, dyno)| async move { self.one_shot(id, app, dyno).await })
            .buffer_unordered(ENGINE_CALLS_AT_ONCE)
            .filter_map(|stats| async move { stats })
            .collect()
            .await;
        out.sort_by(|a, b| (&a.app, &a.dyno).cmp(&(&b.app, &b.dyno)));
        Ok(out)
    }

    async fn one_shot(&self, id: String, app: String, dyno: String) -> Option<ProcessStats> {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = match self.api.stats(&id, Some(options)).next().await? {
            Ok(stats) => stats,
            Err(e) => {
                tracing::debug!(container = %id, error = %e, "no stats for a process");
                return None;
            }
        };
        let memory = stats.memory_stats.unwrap_or_default();
        let cpu_total_ns = stats
            .cpu_stats
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage)?;
        Some(ProcessStats {
            container_id: id,
            app,
            dyno,
            memory_bytes: working_set(memory.usage.unwrap_or(0), memory.stats.as_ref()),
            cpu_total_ns,
        })
    }
}

/// Usage less the inactive page cache (`inactive_file` on cgroup v2,
/// `total_inactive_file` on v1), as the Docker CLI computes it.
fn working_set(usage: u64, stats: Option<&std::collections::HashMap<String, u64>>) -> u64 {
    let inactive = stats.and_then(|s| {
        s.get("inactive_file")
            .or_else(|| s.get("total_inactive_file"))
    });
    match inactive {
        Some(&cache) if cache < usage => usage - cache,
        _ => usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inactive_page_cache_is_not_counted_as_memory_in_use() {
        let v2 = std::collections::HashMap::from([("inactive_file".to_owned(), 300)]);
        assert_eq!(working_set(1000, Some(&v2)), 700);
        let v1 = std::collections::HashMap::from([("total_inactive_file".to_owned(), 100)]);
        assert_eq!(working_set(1000, Some(&v1)), 900);
        assert_eq!(working_set(1000, None), 1000);
        let odd = std::collections::HashMap::from([("inactive_file".to_owned(), 5000)]);
        assert_eq!(working_set(1000, Some(&odd)), 1000);
    }
}
