//! Compare-and-swap ref updates, one by one or all-or-nothing (`atomic`).
//!
//! Every ref of a batch is locked first (`<ref>.lock`, which git and libgit2 both honour),
//! then checked against the old value the client saw, then a hook runs while the locks are
//! held (the caller promotes the quarantine there), then the new values are written. Must
//! not decide which updates are allowed: that is the caller's policy.
//!
//! Blocking git2 code: call from `spawn_blocking`.

use git2::{ErrorCode, Oid, Repository};

use super::request::{RefUpdate, RefUpdateKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomicity {
    /// Each update succeeds or fails on its own (plain `git push`).
    Independent,
    /// All updates succeed together or none is made (`git push --atomic`).
    AllOrNothing,
}

/// Why one ref was not moved; the text goes into the `ng` line the pusher sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefUpdateError {
    #[error("{refname} is being updated by another push; try again")]
    Locked { refname: String },
    #[error("{refname} already exists; fetch and push again")]
    AlreadyExists { refname: String },
    #[error("{refname} changed since you fetched; fetch and push again")]
    Stale { refname: String },
    #[error("{refname} is a symbolic ref; push to the ref it points to")]
    Symbolic { refname: String },
    #[error("atomic push failure")]
    AtomicPushFailure,
    #[error("{0}")]
    BeforeWrite(String),
    #[error("failed to update {refname}: {message}")]
    Write { refname: String, message: String },
}

/// Applies `updates` to `repo` with compare-and-swap on each old value; `before_write` runs
/// once, with the locks held, if at least one update is going to be written. Returns one
/// result per update, in order.
pub fn compare_and_swap(
    repo: &Repository,
    updates: &[RefUpdate],
    atomicity: Atomicity,
    before_write: impl FnOnce() -> Result<(), String>,
) -> Vec<Result<(), RefUpdateError>> {
    let write_error = |update: &RefUpdate, error: &git2::Error| RefUpdateError::Write {
        refname: update.refname.clone(),
        message: error.message().to_owned(),
    };
    let mut tx = match repo.transaction() {
        Ok(tx) => tx,
        Err(error) => {
            return updates
                .iter()
                .map(|u| Err(write_error(u, &error)))
                .collect();
        }
    };
    let mut results: Vec<Result<(), RefUpdateError>> = updates
        .iter()
        .map(|update| {
            tx.lock_ref(&update.refname)
                .map_err(|_| RefUpdateError::Locked {
                    refname: update.refname.clone(),
                })
                .and_then(|()| check_old_value(repo, update))
        })
        .collect();

    let any_failed = results.iter().any(Result::is_err);
    if atomicity == Atomicity::AllOrNothing && any_failed {
        for result in &mut results {
            if result.is_ok() {
                *result = Err(RefUpdateError::AtomicPushFailure);
            }
        }
    }
    if results.iter().all(Result::is_err) {
        return results;
    }
    if let Err(message) = before_write() {
        return results
            .into_iter()
            .map(|r| r.and(Err(RefUpdateError::BeforeWrite(message.clone()))))
            .collect();
    }

    for (update, result) in updates.iter().zip(&mut results) {
        if result.is_err() {
            continue;
        }
        let staged = match update.kind() {
            RefUpdateKind::Delete => tx.remove(&update.refname),
            RefUpdateKind::Create | RefUpdateKind::Update => {
                tx.set_target(&update.refname, update.new, None, "push")
            }
        };
        if let Err(error) = staged {
            *result = Err(write_error(update, &error));
        }
    }
    if let Err(error) = tx.commit() {
        // A transaction can fail half-way (a disk error on one rename); report what
        // the refs really hold now.
        for (update, result) in updates.iter().zip(&mut results) {
            if result.is_ok()
                && current_target(repo, &update.refname)
                    != Ok(Some(update.new).filter(|id| !id.is_zero()))
            {
                *result = Err(write_error(update, &error));
            }
        }
    }
    results
}

fn check_old_value(repo: &Repository, update: &RefUpdate) -> Result<(), RefUpdateError> {
    let refname = update.refname.clone();
    match current_target(repo, &update.refname) {
        Err(CurrentTarget::Symbolic) => Err(RefUpdateError::Symbolic { refname }),
        Err(CurrentTarget::Unreadable(error)) => Err(RefUpdateError::Write {
            refname,
            message: error.message().to_owned(),
        }),
        Ok(current) if current == Some(update.old).filter(|id| !id.is_zero()) => Ok(()),
        Ok(Some(_)) if update.old.is_zero() => Err(RefUpdateError::AlreadyExists { refname }),
        Ok(_) => Err(RefUpdateError::Stale { refname }),
    }
}

#[derive(Debug, PartialEq)]
enum CurrentTarget {
    Symbolic,
    Unreadable(git2::Error),
}

/// The id `refname` points to now, `None` when it does not exist.
fn current_target(repo: &Repository, refname: &str) -> Result<Option<Oid>, CurrentTarget> {
    match repo.find_reference(refname) {
        Ok(reference) => reference.target().map(Some).ok_or(CurrentTarget::Symbolic),
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(error) => Err(CurrentTarget::Unreadable(error)),
    }
}

/// The id `refname` points to, for callers and tests; `None` when absent or unreadable.
pub fn resolve(repo: &Repository, refname: &str) -> Option<Oid> {
    current_target(repo, refname).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        repo: Repository,
        first: Oid,
        second: Oid,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path().join("app.git")).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let (first, second) = {
            let tree = repo.treebuilder(None).unwrap().write().unwrap();
            let tree = repo.find_tree(tree).unwrap();
            let first = repo.commit(None, &sig, &sig, "one", &tree, &[]).unwrap();
            let second = repo.commit(None, &sig, &sig, "two", &tree, &[]).unwrap();
            (first, second)
        };
        Fixture {
            _dir: dir,
            repo,
            first,
            second,
        }
    }

    fn update(old: Oid, new: Oid, refname: &str) -> RefUpdate {
        RefUpdate {
            old,
            new,
            refname: refname.to_owned(),
        }
    }

    #[test]
    fn create_update_and_delete_succeed_when_old_values_match() {
        let f = fixture();
        let main = "refs/heads/main";
        let results = compare_and_swap(
            &f.repo,
            &[update(Oid::ZERO_SHA1, f.first, main)],
            Atomicity::Independent,
            || Ok(()),
        );
        assert_eq!(results, [Ok(())]);
        let results = compare_and_swap(
            &f.repo,
            &[update(f.first, f.second, main)],
            Atomicity::Independent,
            || Ok(()),
        );
        assert_eq!(results, [Ok(())]);
        assert_eq!(resolve(&f.repo, main), Some(f.second));
        let results = compare_and_swap(
            &f.repo,
            &[update(f.second, Oid::ZERO_SHA1, main)],
            Atomicity::Independent,
            || Ok(()),
        );
        assert_eq!(results, [Ok(())]);
        assert_eq!(resolve(&f.repo, main), None);
    }

    #[test]
    fn a_stale_old_value_leaves_the_ref_alone_and_skips_the_hook() {
        let f = fixture();
        f.repo
            .reference("refs/heads/main", f.second, false, "setup")
            .unwrap();
        let mut hook_ran = false;
        let results = compare_and_swap(
            &f.repo,
            &[update(f.first, f.first, "refs/heads/main")],
            Atomicity::Independent,
            || {
                hook_ran = true;
                Ok(())
            },
        );
        assert!(matches!(results[0], Err(RefUpdateError::Stale { .. })));
        assert!(!hook_ran);
        assert_eq!(resolve(&f.repo, "refs/heads/main"), Some(f.second));
        let results = compare_and_swap(
            &f.repo,
            &[update(Oid::ZERO_SHA1, f.first, "refs/heads/main")],
            Atomicity::Independent,
            || Ok(()),
        );
        assert!(matches!(
            results[0],
            Err(RefUpdateError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn atomic_batches_move_nothing_when_one_update_is_stale() {
        let f = fixture();
        f.repo
            .reference("refs/heads/main", f.second, false, "setup")
            .unwrap();
        let batch = [
            update(Oid::ZERO_SHA1, f.first, "refs/heads/feature"),
            update(f.first, f.first, "refs/heads/main"),
        ];
        let results = compare_and_swap(&f.repo, &batch, Atomicity::AllOrNothing, || Ok(()));
        assert_eq!(results[0], Err(RefUpdateError::AtomicPushFailure));
        assert!(matches!(results[1], Err(RefUpdateError::Stale { .. })));
        assert_eq!(resolve(&f.repo, "refs/heads/feature"), None);

        let results = compare_and_swap(&f.repo, &batch, Atomicity::Independent, || Ok(()));
        assert_eq!(results[0], Ok(()));
        assert_eq!(resolve(&f.repo, "refs/heads/feature"), Some(f.first));
    }

    #[test]
    fn a_ref_locked_by_someone_else_is_refused_not_overwritten() {
        let f = fixture();
        let lock = f.repo.path().join("refs/heads/main.lock");
        std::fs::write(&lock, b"").unwrap();
        let results = compare_and_swap(
            &f.repo,
            &[update(Oid::ZERO_SHA1, f.first, "refs/heads/main")],
            Atomicity::Independent,
            || Ok(()),
        );
        assert!(matches!(results[0], Err(RefUpdateError::Locked { .. })));
        assert!(lock.exists());
    }

    #[test]
    fn a_failing_hook_rejects_every_update_and_releases_the_locks() {
        let f = fixture();
        let results = compare_and_swap(
            &f.repo,
            &[update(Oid::ZERO_SHA1, f.first, "refs/heads/main")],
            Atomicity::Independent,
            || Err("disk full".into()),
        );
        assert_eq!(
            results,
            [Err(RefUpdateError::BeforeWrite("disk full".into()))]
        );
        assert_eq!(resolve(&f.repo, "refs/heads/main"), None);
        assert!(!f.repo.path().join("refs/heads/main.lock").exists());
    }
}
