//! One reconciler per app: a task on the scheduler's tracker, the only thing that rolls
//! out, scales, restarts or tears down that app's processes. `ops` commits the desired
//! state in its transaction, then hands the change over with [`Scheduler::submit`] and
//! may follow its progress; the task goes on whether or not anyone follows, so a client
//! that goes away (Ctrl-C, a closed lid, a closed tab) never leaves a rollout half done.
//!
//! Changes run one at a time, in order. A release waiting behind a newer release is
//! superseded (the newest desired state wins; no release is left half started): it is
//! recorded `superseded` and its caller is told by which version. A release's final state
//! is written here, by the reconciler, never by the caller.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};

use crate::domain::ReleaseState;
use crate::progress::Progress;
use crate::store::{AppRow, ReleaseRow, StoreError};

use super::{Inner, Scheduler, SchedulerError, rollout, sleep};

/// Lines of one change kept for `releases:info` and late subscribers.
const HISTORY_LINES: usize = 500;
/// Lines a subscriber may fall behind before it misses some.
const FOLLOW_LINES: usize = 1024;

/// A desired state committed to the store, for the app's reconciler to reach.
#[derive(Debug, Clone)]
pub enum Change {
    /// Roll this pending release out.
    Release(ReleaseRow),
    /// Converge to the stored formation.
    Scale,
    /// A rolling restart of one process type, or all.
    Restart(Option<String>),
    /// Stop and remove everything the app runs; the reconciler ends after it.
    Destroy,
    /// The app was idle: stop its web processes (and the types it does not keep awake).
    Sleep,
    /// A request came for the sleeping app: start its whole formation.
    Wake,
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Finished,
    /// A newer release was waiting: this one never started.
    Superseded {
        by: i64,
    },
}

pub type Outcome = Result<Done, SchedulerError>;

/// The lines and the outcome of one change, shared by the reconciler and whoever follows.
struct Feed {
    history: Mutex<Vec<String>>,
    lines: broadcast::Sender<String>,
    outcome: watch::Sender<Option<Outcome>>,
}

impl Feed {
    fn new() -> Arc<Feed> {
        Arc::new(Feed {
            history: Mutex::new(Vec::new()),
            lines: broadcast::channel(FOLLOW_LINES).0,
            outcome: watch::channel(None).0,
        })
    }

    fn push(&self, line: String) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() < HISTORY_LINES {
            history.push(line.clone());
        }
        drop(history);
        let _ = self.lines.send(line);
    }

    /// A progress whose lines reach the feed, and the task that carries them; the task
    /// ends once every clone of the progress is dropped.
    fn progress(self: &Arc<Self>) -> (Progress, tokio::task::JoinHandle<()>) {
        let (progress, mut rx) = Progress::channel();
        let feed = Arc::clone(self);
        let carrier = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                feed.push(line);
            }
        });
        (progress, carrier)
    }
}

/// A handle on a submitted change: follow its lines, wait for its outcome, or drop it
/// (the change goes on).
pub struct Ticket {
    feed: Arc<Feed>,
    lines: broadcast::Receiver<String>,
}

impl Ticket {
    /// Forwards the change's lines to `progress` until it ends. The ticket subscribed
    /// when the change was submitted, before it could print anything, so no line is lost
    /// unless the follower falls [`FOLLOW_LINES`] behind.
    pub async fn follow(self, progress: &Progress) -> Outcome {
        let Ticket { feed, mut lines } = self;
        let mut outcome = feed.outcome.subscribe();
        while outcome.borrow_and_update().is_none() {
            tokio::select! {
                line = lines.recv() => match line {
                    Ok(line) => progress.line(line),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        progress.detail(format!("... {n} lines dropped"));
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                changed = outcome.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        // Every line was sent before the outcome: what is left is in the channel.
        while let Ok(line) = lines.try_recv() {
            progress.line(line);
        }
        let result = outcome.borrow().clone();
        result.unwrap_or(Err(SchedulerError::Stopped))
    }

    /// Waits for the outcome without printing anything.
    pub async fn wait(self) -> Outcome {
        self.follow(&Progress::silent()).await
    }
}

struct Job {
    app: AppRow,
    change: Change,
    feed: Arc<Feed>,
}

/// The reconcilers of every app, and what each is doing now.
#[derive(Default)]
pub(crate) struct Reconcilers {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
    /// The release each app is rolling out now, and its feed.
    rolling: Mutex<HashMap<String, (i64, Arc<Feed>)>>,
}

impl Scheduler {
    /// Hands a committed change to the app's reconciler (started on first use).
    pub fn submit(&self, app: &AppRow, change: Change) -> Ticket {
        let feed = Feed::new();
        let ticket = Ticket {
            lines: feed.lines.subscribe(),
            feed: Arc::clone(&feed),
        };
        let job = Job {
            app: app.clone(),
            change,
            feed,
        };
        let name = app.name.to_string();
        let mut queues = self
            .inner
            .reconcilers
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A reconciler that ended (after a destroy) gives the job back: start a new one.
        let job = match queues.get(&name) {
            Some(queue) => match queue.send(job) {
                Ok(()) => return ticket,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(job);
        queues.insert(name.clone(), tx);
        let inner = Arc::clone(&self.inner);
        self.inner.tasks.spawn(run(inner, name, rx));
        ticket
    }

    /// The lines so far of `version`'s rollout, while it is in progress.
    pub fn rollout_lines(&self, app: &str, version: i64) -> Option<Vec<String>> {
        let rolling = self
            .inner
            .reconcilers
            .rolling
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (v, feed) = rolling.get(app)?;
        (*v == version).then(|| {
            feed.history
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        })
    }
}

/// The reconciler of one app: changes in order, newest release wins.
async fn run(s: Arc<Inner>, app: String, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut queue: VecDeque<Job> = VecDeque::new();
    loop {
        if queue.is_empty() {
            tokio::select! {
                () = s.shutdown.cancelled() => break,
                job = rx.recv() => match job {
                    Some(job) => queue.push_back(job),
                    None => break,
                },
            }
        }
        while let Ok(job) = rx.try_recv() {
            queue.push_back(job);
        }
        let Some(job) = queue.pop_front() else {
            continue;
        };
        let destroy = matches!(job.change, Change::Destroy);
        let newer = newest_release(&queue);
        run_job(&s, job, newer).await;
        if destroy {
            break;
        }
    }
    s.reconcilers
        .queues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&app);
    // Jobs left behind by a shutdown: their releases stay pending, and the next start
    // marks interrupted rollouts failed.
}

fn newest_release(queue: &VecDeque<Job>) -> Option<i64> {
    queue
        .iter()
        .filter_map(|j| match &j.change {
            Change::Release(r) => Some(r.version),
            _ => None,
        })
        .max()
}

async fn run_job(s: &Arc<Inner>, job: Job, newer: Option<i64>) {
    let Job { app, change, feed } = job;
    let (progress, carrier) = feed.progress();
    let outcome = match change {
        Change::Release(release) => match newer_than(s, &app, &release, newer).await {
            Ok(Some(by)) => supersede(s, &release, by, &progress).await,
            Ok(None) => release_job(s, &app, &release, &progress, &feed).await,
            Err(e) => Err(e),
        },
        Change::Scale => rollout::converge(s, &app).await.map(|()| Done::Finished),
        Change::Restart(process_type) => rollout::restart(s, &app, process_type.as_deref())
            .await
            .map(|()| Done::Finished),
        Change::Destroy => rollout::destroy(s, &app).await.map(|()| Done::Finished),
        Change::Sleep => sleep::sleep(s, &app).await.map(|()| Done::Finished),
        Change::Wake => sleep::wake(s, &app).await.map(|()| Done::Finished),
    };
    drop(progress);
    let _ = carrier.await;
    feed.outcome.send_replace(Some(outcome));
}

/// The newer release that wins over `release`: one queued behind it, or one already
/// serving (its change was submitted first); rolling `release` out would go back in time.
async fn newer_than(
    s: &Inner,
    app: &AppRow,
    release: &ReleaseRow,
    queued: Option<i64>,
) -> Result<Option<i64>, SchedulerError> {
    let app_id = app.id;
    let serving = s
        .store
        .read(move |db| db.current_release(app_id))
        .await
        .map_err(|e: StoreError| SchedulerError::from(e))?
        .map(|r| r.version);
    Ok(queued.max(serving).filter(|v| *v > release.version))
}

async fn supersede(s: &Inner, release: &ReleaseRow, by: i64, progress: &Progress) -> Outcome {
    let detail = format!("superseded by v{by} before it rolled out");
    progress.detail(format!("v{} is {detail}", release.version));
    record(s, release.id, ReleaseState::Superseded, Some(detail)).await?;
    Ok(Done::Superseded { by })
}

async fn release_job(
    s: &Inner,
    app: &AppRow,
    release: &ReleaseRow,
    progress: &Progress,
    feed: &Arc<Feed>,
) -> Outcome {
    s.reconcilers
        .rolling
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(app.name.to_string(), (release.version, Arc::clone(feed)));
    let rolled = rollout::roll_out(s, app, release, progress).await;
    s.reconcilers
        .rolling
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(app.name.as_str());
    let (state, detail) = match &rolled {
        Ok(()) => (ReleaseState::Succeeded, None),
        Err(e) => (ReleaseState::Failed, Some(e.to_string())),
    };
    record(s, release.id, state, detail).await?;
    // The route table's facts of the app (deployed or not) follow its current release.
    super::routes::publish(s, app.name.as_str()).await;
    rolled.map(|()| Done::Finished)
}

/// The one place a rollout's end is written to the store.
async fn record(
    s: &Inner,
    release_id: i64,
    state: ReleaseState,
    detail: Option<String>,
) -> Result<(), SchedulerError> {
    s.store
        .write(move |tx| tx.set_release_state(release_id, state, detail.as_deref()))
        .await
        .map_err(|e: StoreError| SchedulerError::from(e))
}
