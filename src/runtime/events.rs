//! Engine events about paas processes: starts, deaths, out-of-memory kills.

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::stream::{BoxStream, StreamExt};

use super::{Docker, RuntimeError, label_filter, labels};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceEvent {
    Started { id: String },
    Died { id: String, exit_code: i64 },
    OutOfMemory { id: String },
}

impl Docker {
    pub fn instance_events(&self) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>> {
        let mut filters =
            label_filter(&[(labels::MANAGED, &self.instance), (labels::KIND, "process")]);
        filters.insert("type".into(), vec!["container".into()]);
        filters.insert(
            "event".into(),
            vec!["start".into(), "die".into(), "oom".into()],
        );
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let host = self.host.clone();
        self.api
            .events(Some(options))
            .filter_map(move |event| {
                let host = host.clone();
                async move {
                    let event = match event {
                        Ok(event) => event,
                        Err(e) => return Some(Err(RuntimeError::from_bollard(&host, e))),
                    };
                    let actor = event.actor?;
                    let id = actor.id?;
                    let attributes = actor.attributes.unwrap_or_default();
                    match event.action.as_deref()? {
                        "start" => Some(Ok(InstanceEvent::Started { id })),
                        "die" => Some(Ok(InstanceEvent::Died {
                            id,
                            exit_code: attributes
                                .get("exitCode")
                                .and_then(|c| c.parse().ok())
                                .unwrap_or(-1),
                        })),
                        "oom" => Some(Ok(InstanceEvent::OutOfMemory { id })),
                        _ => None,
                    }
                }
            })
            .boxed()
    }
}
