//! A received push waiting for a decision: the request, the quarantined objects, and one
//! status per command (pending, applied, rejected with a reason).
//!
//! Owns the last step: [`Push::apply`] promotes the quarantine and moves every still-pending
//! ref with compare-and-swap (all or nothing for `--atomic`), and drops the quarantine when
//! nothing is kept. Must not decide policy: the caller rejects what it refuses and runs the
//! pipeline between receiving and applying.

use std::path::{Path, PathBuf};

use git2::Repository;

use super::quarantine::{PushedObjects, Quarantine};
use super::refs::{self, Atomicity, RefUpdateError};
use super::request::{PushRequest, RefUpdate};

/// What happened, or will happen, to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// Not decided yet: [`Push::apply`] will try it.
    Pending,
    /// The ref was moved.
    Applied,
    /// The ref was left alone; the reason is shown to the pusher as `[remote rejected]`.
    Rejected(String),
}

/// A push whose objects are indexed (or failed to be) and whose refs have not moved yet.
#[derive(Debug)]
pub struct Push {
    pub request: PushRequest,
    repo_path: PathBuf,
    unpack_error: Option<String>,
    statuses: Vec<CommandStatus>,
    quarantine: Option<Quarantine>,
}

impl Push {
    /// `unpack` is the quarantine (none for a delete-only push) or why the pack was
    /// refused; `tip_problems` holds, per command, why its new id cannot be stored.
    pub(crate) fn new(
        repo_path: PathBuf,
        request: PushRequest,
        unpack: Result<Option<Quarantine>, String>,
        tip_problems: Vec<Option<String>>,
    ) -> Self {
        let (quarantine, unpack_error) = match unpack {
            Ok(quarantine) => (quarantine, None),
            Err(error) => (None, Some(error)),
        };
        let statuses = (0..request.commands.len())
            .map(
                |i| match (&unpack_error, tip_problems.get(i).cloned().flatten()) {
                    (Some(_), _) => CommandStatus::Rejected("unpacker error".to_owned()),
                    (None, Some(problem)) => CommandStatus::Rejected(problem),
                    (None, None) => CommandStatus::Pending,
                },
            )
            .collect();
        Self {
            request,
            repo_path,
            unpack_error,
            statuses,
            quarantine,
        }
    }

    /// Why the pack was refused (`unpack <error>` in the report), if it was.
    pub fn unpack_error(&self) -> Option<&str> {
        self.unpack_error.as_deref()
    }

    pub fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// Every command with its current status, in the client's order.
    pub fn commands(&self) -> impl Iterator<Item = (&RefUpdate, &CommandStatus)> {
        self.request.commands.iter().zip(&self.statuses)
    }

    /// Commands nobody has rejected yet.
    pub fn pending(&self) -> impl Iterator<Item = &RefUpdate> {
        self.commands()
            .filter(|(_, status)| **status == CommandStatus::Pending)
            .map(|(command, _)| command)
    }

    /// The pending command for `refname`, if any.
    pub fn pending_for(&self, refname: &str) -> Option<&RefUpdate> {
        self.pending().find(|command| command.refname == refname)
    }

    /// Refuses the command for `refname` (policy, failed build...); false when there is
    /// no such pending command.
    pub fn reject(&mut self, refname: &str, reason: impl Into<String>) -> bool {
        let position = self
            .request
            .commands
            .iter()
            .zip(&self.statuses)
            .position(|(c, s)| c.refname == refname && *s == CommandStatus::Pending);
        match position {
            Some(i) => {
                self.statuses[i] = CommandStatus::Rejected(reason.into());
                true
            }
            None => false,
        }
    }

    /// Refuses every pending command with the same reason.
    pub fn reject_pending(&mut self, reason: &str) {
        for status in &mut self.statuses {
            if *status == CommandStatus::Pending {
                *status = CommandStatus::Rejected(reason.to_owned());
            }
        }
    }

    /// The repository plus the pushed objects, for the pipeline (open it in
    /// `spawn_blocking`); valid until [`Push::apply`] or drop.
    pub fn objects(&self) -> PushedObjects {
        match &self.quarantine {
            Some(quarantine) => quarantine.objects(),
            None => PushedObjects {
                repo_path: self.repo_path.clone(),
                quarantine_dir: None,
            },
        }
    }

    /// Whether `update`'s ref no longer points where the client saw it (another push moved
    /// it meanwhile): running a pipeline for it would be wasted, its swap would fail.
    pub async fn is_stale(&self, update: &RefUpdate) -> bool {
        let (repo_path, refname, old) =
            (self.repo_path.clone(), update.refname.clone(), update.old);
        tokio::task::spawn_blocking(move || {
            let current = Repository::open_bare(&repo_path)
                .ok()
                .and_then(|repo| refs::resolve(&repo, &refname));
            match current {
                Some(id) => id != old,
                None => !old.is_zero(),
            }
        })
        .await
        .unwrap_or(true)
    }

    /// Moves every pending ref (compare-and-swap on the old id the client sent), promoting
    /// the quarantined pack first while the refs are locked; deletes the quarantine when
    /// nothing is kept. With `--atomic`, one rejected command rejects all.
    pub async fn apply(&mut self) {
        let atomicity = if self.request.capabilities.atomic {
            Atomicity::AllOrNothing
        } else {
            Atomicity::Independent
        };
        let any_rejected = self
            .statuses
            .iter()
            .any(|s| matches!(s, CommandStatus::Rejected(_)));
        if atomicity == Atomicity::AllOrNothing && any_rejected {
            self.reject_pending(&RefUpdateError::AtomicPushFailure.to_string());
        }
        let pending: Vec<usize> = (0..self.statuses.len())
            .filter(|&i| self.statuses[i] == CommandStatus::Pending)
            .collect();
        let quarantine = self.quarantine.take();
        if pending.is_empty() {
            if let Some(quarantine) = quarantine {
                // Deleting a pack is file I/O: keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || drop(quarantine)).await;
            }
            return;
        }
        let updates: Vec<RefUpdate> = pending
            .iter()
            .map(|&i| self.request.commands[i].clone())
            .collect();
        let repo_path = self.repo_path.clone();
        let count = updates.len();
        let results = tokio::task::spawn_blocking(move || {
            let repo = Repository::open_bare(&repo_path)
                .map_err(|error| format!("cannot open the repository: {}", error.message()))?;
            Ok::<_, String>(refs::compare_and_swap(
                &repo,
                &updates,
                atomicity,
                move || match quarantine {
                    Some(quarantine) => quarantine.promote().map_err(|e| e.to_string()),
                    None => Ok(()),
                },
            ))
        })
        .await
        .map_err(|join| format!("the ref update task failed: {join}"))
        .and_then(|inner| inner);
        let results = match results {
            Ok(results) => results,
            Err(message) => {
                tracing::error!(%message, repo = %self.repo_path.display(), "ref update failed");
                vec![Err(RefUpdateError::BeforeWrite(message)); count]
            }
        };
        for (i, result) in pending.into_iter().zip(results) {
            self.statuses[i] = match result {
                Ok(()) => CommandStatus::Applied,
                Err(error) => CommandStatus::Rejected(error.to_string()),
            };
        }
    }
}
