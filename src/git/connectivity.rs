//! The connectivity check of a push (git's `check_connected`): every object reachable from
//! a pushed tip must be in the quarantine or the repository, and a branch must point to a
//! commit.
//!
//! The walk stops at objects the repository already has: the repository is complete
//! (every object in it was checked before it was promoted), so only new objects are
//! walked. Blobs are never read, only looked up, so memory stays flat whatever their size;
//! that is why the indexer runs with libgit2's own `verify` off (it buffers every object
//! whole). Blocking git2 code; must not change anything.

use std::collections::HashSet;

use git2::{ObjectType, Odb, OdbLookupFlags, Oid, Repository};

use super::request::{RefUpdate, RefUpdateKind};

/// Why each command's new id cannot be stored (`None` = it can), in command order.
/// `repo` is the plain repository, `view` the same with the quarantine as an alternate.
pub fn check_pushed_tips(
    repo: &Repository,
    view: &Repository,
    commands: &[RefUpdate],
) -> Result<Vec<Option<String>>, git2::Error> {
    let known = repo.odb()?;
    let all = view.odb()?;
    let mut walk = Walk {
        known: &known,
        all: &all,
        view,
        complete: HashSet::new(),
    };
    Ok(commands
        .iter()
        .map(|command| {
            if command.kind() == RefUpdateKind::Delete {
                return None;
            }
            let kind = match all.read_header(command.new) {
                Ok((_, kind)) => kind,
                Err(_) => {
                    return Some(format!(
                        "missing necessary objects: {} is neither in the pack nor in the repository",
                        command.new
                    ));
                }
            };
            if command.refname.starts_with("refs/heads/") && kind != ObjectType::Commit {
                return Some(format!("{} must point to a commit, not a {kind}", command.refname));
            }
            walk.closure(command.new).err()
        })
        .collect())
}

struct Walk<'a> {
    known: &'a Odb<'a>,
    all: &'a Odb<'a>,
    view: &'a Repository,
    /// Objects whose whole closure was found present.
    complete: HashSet<Oid>,
}

impl Walk<'_> {
    fn closure(&mut self, tip: Oid) -> Result<(), String> {
        let mut visited = Vec::new();
        let mut stack = vec![tip];
        let result = self.walk(&mut stack, &mut visited);
        if result.is_ok() {
            self.complete.extend(visited);
        }
        result
    }

    fn walk(&self, stack: &mut Vec<Oid>, visited: &mut Vec<Oid>) -> Result<(), String> {
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if self.complete.contains(&id) || !seen.insert(id) {
                continue;
            }
            // Without NO_REFRESH every miss would rescan objects/pack.
            if self.known.exists_ext(id, OdbLookupFlags::NO_REFRESH) {
                continue;
            }
            visited.push(id);
            let broken =
                |e: git2::Error| format!("invalid object {id} in the pack: {}", e.message());
            let (_, kind) = self.all.read_header(id).map_err(|_| {
                format!(
                    "missing necessary objects: {id} is neither in the pack nor in the repository"
                )
            })?;
            match kind {
                ObjectType::Commit => {
                    let commit = self.view.find_commit(id).map_err(broken)?;
                    stack.push(commit.tree_id());
                    stack.extend(commit.parent_ids());
                }
                ObjectType::Tree => {
                    let tree = self.view.find_tree(id).map_err(broken)?;
                    // Submodule entries (gitlinks) name commits of another repository.
                    stack.extend(
                        tree.iter()
                            .filter(|entry| entry.kind() != Some(ObjectType::Commit))
                            .map(|entry| entry.id()),
                    );
                }
                ObjectType::Tag => {
                    let tag = self.view.find_tag(id).map_err(broken)?;
                    stack.push(tag.target_id());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_with_blob(repo: &Repository, content: &[u8]) -> (Oid, Oid) {
        let blob = repo.blob(content).unwrap();
        let mut builder = repo.treebuilder(None).unwrap();
        builder.insert("file", blob, 0o100644).unwrap();
        let tree = repo.find_tree(builder.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let commit = repo.commit(None, &sig, &sig, "c", &tree, &[]).unwrap();
        (commit, blob)
    }

    fn command(new: Oid, refname: &str) -> RefUpdate {
        RefUpdate {
            old: Oid::ZERO_SHA1,
            new,
            refname: refname.to_owned(),
        }
    }

    #[test]
    fn a_complete_commit_passes_and_a_blob_cannot_be_a_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let (commit, blob) = commit_with_blob(&repo, b"x");
        let problems = check_pushed_tips(
            &repo,
            &repo,
            &[
                command(commit, "refs/heads/main"),
                command(blob, "refs/heads/blob"),
                command(blob, "refs/tags/blob"),
            ],
        )
        .unwrap();
        assert_eq!(problems[0], None);
        assert!(
            problems[1]
                .as_deref()
                .unwrap()
                .contains("must point to a commit, not a blob")
        );
        assert_eq!(problems[2], None);
    }

    #[test]
    fn a_new_commit_whose_blob_is_missing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let main = Repository::init_bare(dir.path().join("main.git")).unwrap();
        let other = Repository::init_bare(dir.path().join("other.git")).unwrap();
        let (commit, blob) = commit_with_blob(&other, b"only in other");
        // `view` sees other's objects, minus the blob.
        let loose = |oid: Oid| {
            let hex = oid.to_string();
            dir.path()
                .join("other.git/objects")
                .join(&hex[..2])
                .join(&hex[2..])
        };
        std::fs::remove_file(loose(blob)).unwrap();
        let view = Repository::open_bare(dir.path().join("main.git")).unwrap();
        view.odb()
            .unwrap()
            .add_disk_alternate(dir.path().join("other.git/objects").to_str().unwrap())
            .unwrap();
        let problems =
            check_pushed_tips(&main, &view, &[command(commit, "refs/heads/main")]).unwrap();
        let problem = problems[0].as_deref().unwrap();
        assert!(
            problem.contains(&format!("missing necessary objects: {blob}")),
            "{problem}"
        );
    }
}
