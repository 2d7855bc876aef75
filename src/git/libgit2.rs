//! Process-wide libgit2 settings that keep reading packs in bounded memory.
//!
//! libgit2 reads packs through mmap windows of up to 1 GiB each and 8 GiB in total by
//! default, and every touched page of a window counts as resident: the pipeline reading a
//! tree out of a large repository would hold most of its packs mapped. Small windows under
//! a small total bound that. (The indexer itself drops its pack from the window LRU on
//! every append, so while it checksums one large object it maps that object whole whatever
//! these say: clean page-cache pages, see BENCHMARKS.md.) Must be called before any thread
//! uses git2; owns nothing else.

/// Size of one mmap window onto a pack.
pub const WINDOW_SIZE: usize = 8 << 20;
/// Total of pack windows mapped at once (a soft limit: windows in use stay mapped).
pub const MAPPED_LIMIT: usize = 32 << 20;

/// Applies [`WINDOW_SIZE`] and [`MAPPED_LIMIT`].
///
/// # Safety
///
/// Writes C globals of libgit2 without synchronization: call it once at start-up, before
/// any other thread uses git2 (first thing in `main`, before the runtime starts).
pub unsafe fn limit_mapped_memory() -> Result<(), git2::Error> {
    // SAFETY: the caller guarantees no other thread is using libgit2 yet.
    unsafe {
        git2::opts::set_mwindow_size(WINDOW_SIZE)?;
        git2::opts::set_mwindow_mapped_limit(MAPPED_LIMIT)?;
    }
    Ok(())
}
