//! The bounded on-disk history: `DATA/logs/APP.log`, rotated once to `APP.log.1` past
//! its size cap, so each app keeps between one and two caps of recent lines. The files are
//! 0600 in a 0700 directory: app output often carries secrets.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use super::entry::StampCache;
use super::{LogEntry, LogFilter};

const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct LogFiles {
    dir: PathBuf,
}

impl LogFiles {
    pub fn new(dir: PathBuf) -> Self {
        LogFiles { dir }
    }

    fn path(&self, app: &str) -> PathBuf {
        self.dir.join(format!("{app}.log"))
    }

    pub fn append(&self, batch: &[(String, LogEntry)]) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let mut by_app: Vec<(&str, String)> = Vec::new();
        let mut stamp = StampCache::default();
        for (app, entry) in batch {
            let at = match by_app.iter().position(|(a, _)| *a == app) {
                Some(at) => at,
                None => {
                    by_app.push((app, String::new()));
                    by_app.len() - 1
                }
            };
            entry.write_line(&mut by_app[at].1, &mut stamp);
        }
        for (app, text) in by_app {
            let path = self.path(app);
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_FILE_BYTES) {
                std::fs::rename(&path, path.with_extension("log.1"))?;
            }
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    pub fn tail(&self, app: &str, lines: usize, filter: &LogFilter) -> Vec<LogEntry> {
        let path = self.path(app);
        let mut kept = VecDeque::with_capacity(lines.min(10_000));
        for file in [path.with_extension("log.1"), path] {
            let Ok(file) = File::open(&file) else {
                continue;
            };
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                if let Some(entry) = LogEntry::parse(&line).filter(|e| filter.matches(e)) {
                    if kept.len() == lines {
                        kept.pop_front();
                    }
                    if lines > 0 {
                        kept.push_back(entry);
                    }
                }
            }
        }
        kept.into()
    }

    pub fn remove(&self, app: &str) {
        let path = self.path(app);
        let _ = std::fs::remove_file(path.with_extension("log.1"));
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::Source;

    #[test]
    fn tail_returns_the_newest_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::new(dir.path().to_owned());
        let batch: Vec<(String, LogEntry)> = (0..10)
            .map(|i| {
                (
                    "app".to_owned(),
                    LogEntry {
                        at: i,
                        source: Source::App,
                        dyno: "web.1".into(),
                        text: format!("line {i}"),
                    },
                )
            })
            .collect();
        files.append(&batch).unwrap();
        let tail = files.tail("app", 3, &LogFilter::default());
        let texts: Vec<&str> = tail.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["line 7", "line 8", "line 9"]);
        assert!(files.tail("other", 3, &LogFilter::default()).is_empty());
    }
}
