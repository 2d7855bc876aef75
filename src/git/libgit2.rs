//! Process-wide libgit2 settings that keep a push's memory flat.
//!
//! libgit2 reads packs through mmap windows of up to 1 GiB, 8 GiB in total, by default:
//! indexing a 150 MiB blob left 140 MiB of the pack mapped and resident (VmHWM 160 MiB).
//! Small windows under a small total make that a constant. Owns nothing else; must be
//! called before any thread uses git2.

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
