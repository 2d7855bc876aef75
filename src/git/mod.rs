//! `git push` over smart HTTP: a receive-pack server of our own on top of git2's objects.
//! The pkt-line protocol, quarantine and ref compare-and-swap are ours; packs are indexed by
//! libgit2's `Indexer`. This is the only module (with `build/`'s tree export) using git2,
//! and it knows no HTTP types: bodies are `Stream`s of `Bytes`, headers are `&str`s.
//!
//! # Layout
//!
//! ```text
//! pkt_line       frame encode/decode (flush, delim, response-end, max 65520)
//! capabilities   what we advertise, what the client asked for
//! advertisement  GET info/refs?service=git-receive-pack
//! request        command list + push options -> PushRequest
//! body           HTTP body -> bounded channel -> blocking Read (gzip, limits, timeout)
//! unpack         pack -> libgit2 Indexer in a quarantine
//! connectivity   every object reachable from a pushed tip is present
//! receive_pack   POST git-receive-pack, first half: -> Received::{Probe, Push}
//! quarantine     objects/incoming-XXXXXX: alternate view, promote, delete on drop
//! push           statuses per command; apply = promote + CAS refs (atomic or not)
//! refs           compare-and-swap ref updates under lock
//! report         streamed response: side-band frames, report-status v1/v2
//! repo           DATA/repos/NAME.git: init, delete, sweep stale quarantines
//! blob           a pushed blob read in pieces (pack entries inflated as read)
//! libgit2        process-wide mmap limits (call once at start-up)
//! ```
//!
//! # The handler's sequence
//!
//! ```text
//! GET  info/refs?service=git-receive-pack
//!      advertisement::advertise_receive_pack(path) -> 200, ADVERTISEMENT_CONTENT_TYPE,
//!      NO_CACHE_HEADERS (any other service: 403, no dumb HTTP, no fetch)
//! POST git-receive-pack
//!   1. receive_pack::receive(path, body stream, ContentEncoding::from_header(..), limits)
//!        Err(e)              -> e.http_status() + e.to_string()
//!        Ok(Received::Probe) -> 200, RESULT_CONTENT_TYPE, empty body
//!        Ok(Received::Push(push)):
//!   2. let (reporter, body) = report::Reporter::new(&push.request.capabilities);
//!      respond now with body (a Stream of Bytes), and in a spawned task:
//!   3. policy: push.reject(refname, reason) for what is refused;
//!      pipeline on push.pending_for(deploy ref): reads the tree through
//!      push.objects().open_repository() (in spawn_blocking), prints to reporter.progress();
//!      on failure push.reject_pending("build failed: ...")
//!   4. push.apply().await     promotes the quarantine + CAS-moves what is still pending,
//!                             or deletes the quarantine when nothing is kept
//!   5. reporter.finish(&push).await
//! ```
//!
//! At start-up, before the runtime: `unsafe { git::libgit2::limit_mapped_memory() }`, so
//! libgit2 maps at most a few windows of a pack (up to 8 GiB otherwise).

pub mod advertisement;
pub mod blob;
pub mod body;
pub mod capabilities;
pub mod connectivity;
pub mod libgit2;
pub mod pkt_line;
pub mod push;
pub mod quarantine;
pub mod receive_pack;
pub mod refs;
pub mod repo;
pub mod report;
pub mod request;
pub mod unpack;

pub use repo::{RepoError, Repos};
