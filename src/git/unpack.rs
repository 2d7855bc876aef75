//! Indexing a received pack into a quarantine with libgit2's `Indexer`: every object is
//! hashed and the pack checksum verified as the bytes stream in, thin packs are completed
//! from the repository's objects.
//!
//! libgit2's own `verify` is off on purpose: it copies every object whole into memory to
//! parse it (a 150 MiB blob took the server to 315 MiB), so `connectivity` checks the
//! pushed tips instead, as git's receive-pack does. Blocking code, run inside
//! `spawn_blocking` by `receive_pack`. Must not promote the pack nor move refs.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::Path;
use std::rc::Rc;

use git2::{Indexer, Repository};

use super::body::BodyFailure;
use super::quarantine::{Quarantine, QuarantineError};

/// Bytes handed to the indexer at once.
const APPEND_SIZE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(transparent)]
    Body(BodyFailure),
    #[error("cannot read the pack from the request: {0}")]
    Read(io::Error),
    #[error("invalid pack: {0}")]
    Index(String),
    #[error(transparent)]
    Quarantine(#[from] QuarantineError),
    #[error("cannot open the repository to index the pack: {0}")]
    Repository(git2::Error),
}

impl UnpackError {
    fn from_read(error: io::Error) -> Self {
        match BodyFailure::from_io(&error) {
            Some(failure) => Self::Body(failure),
            None => Self::Read(error),
        }
    }

    /// The client went away, so there is nobody to report to.
    pub fn client_gone(&self) -> bool {
        matches!(self, Self::Body(failure) if failure.client_gone())
    }
}

/// Streams the rest of `reader` (a pack) into a new quarantine of `repo_path`.
pub fn index_pack(repo_path: &Path, reader: &mut impl Read) -> Result<Quarantine, UnpackError> {
    let quarantine = Quarantine::create(repo_path)?;
    let repo = Repository::open_bare(repo_path).map_err(UnpackError::Repository)?;
    // The repository's odb lets the indexer complete thin packs from objects the client
    // left out, without copying anything into the repository.
    let odb = repo.odb().map_err(UnpackError::Repository)?;
    let objects = Rc::new(Cell::new(0usize));
    {
        let mut indexer = Indexer::new(Some(&odb), &quarantine.pack_dir(), 0, false)
            .map_err(|e| UnpackError::Index(e.message().to_owned()))?;
        let seen = Rc::clone(&objects);
        indexer.progress(move |progress| {
            seen.set(progress.total_objects());
            true
        });
        // libgit2 remaps its pack window on every append: feed it in large slices.
        let mut buffer = vec![0u8; APPEND_SIZE];
        loop {
            let filled = fill(reader, &mut buffer)?;
            if filled == 0 {
                break;
            }
            indexer
                .write_all(&buffer[..filled])
                .map_err(|e| UnpackError::Index(indexer_message(&e)))?;
        }
        indexer
            .commit()
            .map_err(|e| UnpackError::Index(e.message().to_owned()))?;
    }
    if objects.get() == 0 {
        // git sends an empty pack when the server has every object already; keeping it
        // would only litter objects/pack.
        for name in quarantine.pack_names().map_err(UnpackError::Read)? {
            for extension in ["pack", "idx", "rev"] {
                let _ =
                    std::fs::remove_file(quarantine.pack_dir().join(format!("{name}.{extension}")));
            }
        }
    }
    Ok(quarantine)
}

/// Reads until `buffer` is full or the body ends; returns how much was read.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> Result<usize, UnpackError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::from_read(e)),
        }
    }
    Ok(filled)
}

fn indexer_message(error: &io::Error) -> String {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<git2::Error>())
    {
        Some(git) => git.message().to_owned(),
        None => error.to_string(),
    }
}
