//! A build's log: every output line appended to its own file, `DATA/builds/ID.log` (0600,
//! in a 0700 directory), through a buffer; nothing of it waits on the store. The file
//! stops growing at `MAX_LOG_BYTES` with a line saying so. Builds made before logs moved
//! to files keep theirs in the database row (`ops::builds` reads the file, else the row).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A build log longer than this is cut, once, with a line saying so.
const MAX_LOG_BYTES: u64 = 32 << 20;
const BUFFER_BYTES: usize = 64 * 1024;

pub struct BuildLog {
    file: Option<BufWriter<File>>,
    written: u64,
}

/// Where build `id`'s log is kept under `dir` (`DATA/builds`).
pub fn path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("{id}.log"))
}

impl BuildLog {
    /// Starts build `id`'s log afresh (a reused id never appends to an old log). A log that
    /// cannot be created is reported once and the build goes on without it.
    pub fn create(dir: &Path, id: i64) -> Self {
        let opened = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| {
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(path(dir, id))
            });
        let file = match opened {
            Ok(file) => Some(BufWriter::with_capacity(BUFFER_BYTES, file)),
            Err(e) => {
                tracing::error!(build = id, dir = %dir.display(), error = %e, "cannot write the build log");
                None
            }
        };
        BuildLog { file, written: 0 }
    }

    /// Appends one line: a copy into the buffer, a write to the file when it is full.
    pub fn line(&mut self, text: &str) {
        let Some(file) = &mut self.file else { return };
        let size = text.len() as u64 + 1;
        if self.written + size > MAX_LOG_BYTES {
            let _ = writeln!(
                file,
                "... the build log stops here: it passed {} MiB",
                MAX_LOG_BYTES >> 20
            );
            self.finish();
            self.file = None;
            return;
        }
        self.written += size;
        if writeln!(file, "{text}").is_err() {
            self.file = None;
        }
    }

    /// Writes out what is buffered; call when the build is over.
    pub fn finish(&mut self) {
        if let Some(file) = &mut self.file {
            let _ = file.flush();
        }
    }
}

/// Build `id`'s log file, if it has one.
pub async fn read(dir: &Path, id: i64) -> std::io::Result<Option<String>> {
    match tokio::fs::read(path(dir, id)).await {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn lines_land_in_a_private_file_that_a_reused_id_starts_afresh() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("builds");
        let mut log = BuildLog::create(&dir, 7);
        log.line("-----> first");
        log.line("second");
        log.finish();
        assert_eq!(
            read(&dir, 7).await.unwrap().as_deref(),
            Some("-----> first\nsecond\n")
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path(&dir, 7)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        let mut again = BuildLog::create(&dir, 7);
        again.line("new");
        again.finish();
        assert_eq!(read(&dir, 7).await.unwrap().as_deref(), Some("new\n"));
        assert_eq!(read(&dir, 8).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_log_stops_at_its_limit_with_a_line_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BuildLog::create(dir.path(), 1);
        let line = "x".repeat(1 << 20);
        for _ in 0..40 {
            log.line(&line);
        }
        log.finish();
        let text = read(dir.path(), 1).await.unwrap().unwrap();
        assert!(text.len() as u64 <= MAX_LOG_BYTES + 100);
        assert!(text.ends_with("... the build log stops here: it passed 32 MiB\n"));
    }
}
