//! The deploys in progress: one per app at a time (pushes to different apps run side by
//! side), each with the token that cancels its build (`builds:cancel`, or the server
//! stopping), all spawned on one tracker that shutdown joins.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{OpsError, Progress};

#[derive(Clone)]
pub struct Deploys {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    building: Arc<Mutex<HashMap<String, CancellationToken>>>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// An app's deploy lock, held from the push's decision until its refs have moved.
pub struct DeployGuard {
    _lock: OwnedMutexGuard<()>,
    app: String,
    building: Arc<Mutex<HashMap<String, CancellationToken>>>,
    cancel: CancellationToken,
}

/// While it lives, `builds:cancel` of the app cancels the deploy's build.
pub struct Building<'a> {
    guard: &'a DeployGuard,
}

impl Deploys {
    /// Deploys that stop (their builds cancelled) when `shutdown` fires.
    pub fn new(shutdown: CancellationToken) -> Self {
        Deploys {
            locks: Arc::default(),
            building: Arc::default(),
            tasks: TaskTracker::new(),
            shutdown,
        }
    }

    /// Runs a deploy on the server's tracker: a closed client connection does not stop it,
    /// and a stopping server waits for it (its build cancelled) in `join`.
    pub fn spawn<F>(&self, deploy: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(deploy);
    }

    /// Waits for the deploys in progress to end (after the shutdown token fired).
    pub async fn join(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The app's deploy lock; says so on `progress` while it waits, and gives up after
    /// `wait`.
    pub async fn acquire(
        &self,
        app: &str,
        progress: &Progress,
        wait: Duration,
    ) -> Result<DeployGuard, OpsError> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(app.to_owned()).or_default())
        };
        let lock = match Arc::clone(&lock).try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                progress.line("waiting for the deploy in progress...".to_owned());
                tokio::time::timeout(wait, lock.lock_owned()).await.map_err(|_| {
                    OpsError::Conflict(format!(
                        "another deploy of {app} is still running after {}s; push again once it is done",
                        wait.as_secs()
                    ))
                })?
            }
        };
        Ok(DeployGuard {
            _lock: lock,
            app: app.to_owned(),
            building: Arc::clone(&self.building),
            cancel: self.shutdown.child_token(),
        })
    }

    /// Cancels the app's build in progress, if any; true if there was one.
    pub fn cancel_build(&self, app: &str) -> bool {
        let building = self.building.lock().unwrap_or_else(|p| p.into_inner());
        match building.get(app) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

impl DeployGuard {
    /// Marks the build stage: until the returned value drops, `builds:cancel` reaches it.
    pub fn building(&self) -> Building<'_> {
        self.building
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.app.clone(), self.cancel.clone());
        Building { guard: self }
    }
}

impl Building<'_> {
    /// The token the build stops at.
    pub fn token(&self) -> &CancellationToken {
        &self.guard.cancel
    }
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        self.guard
            .building
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.guard.app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_deploy_of_an_app_waits_and_gives_up_with_a_reason() {
        let deploys = Deploys::new(CancellationToken::new());
        let progress = Progress::silent();
        let first = deploys.acquire("web", &progress, Duration::ZERO).await;
        assert!(first.is_ok());
        let other_app = deploys.acquire("api", &progress, Duration::ZERO).await;
        assert!(other_app.is_ok(), "another app deploys side by side");
        let second = deploys
            .acquire("web", &progress, Duration::from_millis(20))
            .await;
        let Err(OpsError::Conflict(reason)) = second else {
            panic!("the second deploy of web got the lock");
        };
        assert!(reason.contains("push again"), "{reason}");
        drop(first);
        assert!(
            deploys
                .acquire("web", &progress, Duration::ZERO)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn cancel_reaches_only_a_build_in_progress_and_shutdown_reaches_it_too() {
        let shutdown = CancellationToken::new();
        let deploys = Deploys::new(shutdown.clone());
        let progress = Progress::silent();
        let guard = deploys
            .acquire("web", &progress, Duration::ZERO)
            .await
            .unwrap();
        assert!(!deploys.cancel_build("web"), "no build yet");
        {
            let building = guard.building();
            assert!(deploys.cancel_build("web"));
            assert!(building.token().is_cancelled());
        }
        assert!(!deploys.cancel_build("web"), "the build stage ended");

        let other = deploys
            .acquire("api", &progress, Duration::ZERO)
            .await
            .unwrap();
        let building = other.building();
        shutdown.cancel();
        assert!(building.token().is_cancelled());
    }
}
