//! Certificate files under `DATA/certs` (directories 0700, files 0600, each written to a
//! temporary file and renamed into place, so a crash never leaves half a key):
//!
//! ```text
//! certs/self-signed.{crt,key}   the development certificate
//! certs/acme/HOST.{crt,key}     ACME certificates, one hostname each
//! certs/user/ID.{crt,key}       certificates users brought (ID of the user_certs row)
//! certs/acme-account.json       the ACME account key and URL
//! certs/ca/                     paas's own CA and the registry's certificate (ca.rs)
//! ```
//!
//! Blocking file I/O: call from `spawn_blocking`. Contents are never logged.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which certificate a pair of files holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CertFile {
    SelfSigned,
    Acme(String),
    User(i64),
}

#[derive(Clone, Debug)]
pub struct CertFiles {
    root: PathBuf,
}

impl CertFiles {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directories, private to this user.
    pub fn prepare(&self) -> io::Result<()> {
        for dir in [
            self.root.clone(),
            self.root.join("acme"),
            self.root.join("user"),
        ] {
            create_private_dir(&dir)?;
        }
        Ok(())
    }

    /// The file of `file` with extension `ext` (`crt` or `key`), appended: hostnames have
    /// dots, so `Path::with_extension` would cut `.com` off.
    fn path(&self, file: &CertFile, ext: &str) -> io::Result<PathBuf> {
        let stem = self.stem(file)?;
        let mut name = stem.into_os_string();
        name.push(".");
        name.push(ext);
        Ok(PathBuf::from(name))
    }

    fn stem(&self, file: &CertFile) -> io::Result<PathBuf> {
        Ok(match file {
            CertFile::SelfSigned => self.root.join("self-signed"),
            CertFile::Acme(host) => {
                // Hostnames are validated DNS names; this guards the path all the same.
                if host.is_empty()
                    || host.starts_with('.')
                    || !host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{host:?} is not a hostname"),
                    ));
                }
                self.root.join("acme").join(host)
            }
            CertFile::User(id) => self.root.join("user").join(id.to_string()),
        })
    }

    /// (certificate chain PEM, key PEM).
    pub fn read(&self, file: &CertFile) -> io::Result<(Vec<u8>, Vec<u8>)> {
        Ok((
            fs::read(self.path(file, "crt")?)?,
            fs::read(self.path(file, "key")?)?,
        ))
    }

    /// Writes both files with 0600 permissions, each replaced atomically.
    pub fn write(&self, file: &CertFile, chain_pem: &[u8], key_pem: &[u8]) -> io::Result<()> {
        write_private(&self.path(file, "key")?, key_pem)?;
        write_private(&self.path(file, "crt")?, chain_pem)
    }

    pub fn remove(&self, file: &CertFile) -> io::Result<()> {
        for path in [self.path(file, "crt")?, self.path(file, "key")?] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Hostnames with ACME files on disk.
    pub fn acme_hostnames(&self) -> io::Result<Vec<String>> {
        self.stems("acme")
    }

    /// Ids of user certificates with files on disk.
    pub fn user_ids(&self) -> io::Result<Vec<i64>> {
        Ok(self
            .stems("user")?
            .into_iter()
            .filter_map(|s| s.parse().ok())
            .collect())
    }

    fn stems(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut stems: Vec<String> = fs::read_dir(self.root.join(dir))?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_suffix(".crt")
                    .or_else(|| name.strip_suffix(".key"))
                    .map(str::to_owned)
            })
            .collect();
        stems.sort();
        stems.dedup();
        Ok(stems)
    }

    pub fn read_account(&self) -> io::Result<Vec<u8>> {
        fs::read(self.root.join("acme-account.json"))
    }

    pub fn write_account(&self, json: &[u8]) -> io::Result<()> {
        write_private(&self.root.join("acme-account.json"), json)
    }
}

/// Creates `dir` (and its parents) private to this user (0700).
pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `contents` to `path` with 0600 permissions, replacing it atomically.
pub(super) fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", crate::auth::random_hex(4)));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_and_certificates_are_private_to_the_server_user() {
        let dir = tempfile::tempdir().unwrap();
        let files = CertFiles::new(dir.path().join("certs"));
        files.prepare().unwrap();
        let host = CertFile::Acme("www.example.com".to_owned());
        files.write(&host, b"chain", b"key").unwrap();
        files.write(&CertFile::User(7), b"c", b"k").unwrap();
        for path in [
            "certs",
            "certs/acme",
            "certs/acme/www.example.com.key",
            "certs/acme/www.example.com.crt",
            "certs/user/7.key",
        ] {
            let mode = fs::metadata(dir.path().join(path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
        }
        assert_eq!(
            files.read(&host).unwrap(),
            (b"chain".to_vec(), b"key".to_vec())
        );
        assert_eq!(files.acme_hostnames().unwrap(), vec!["www.example.com"]);
        assert_eq!(files.user_ids().unwrap(), vec![7]);
        files.remove(&host).unwrap();
        files.remove(&host).unwrap();
        assert!(files.acme_hostnames().unwrap().is_empty());
    }

    #[test]
    fn names_that_are_not_hostnames_never_become_paths() {
        let files = CertFiles::new(PathBuf::from("/nonexistent"));
        for bad in ["../x", "a/b", "", ".hidden"] {
            assert!(
                files.read(&CertFile::Acme(bad.to_owned())).is_err(),
                "{bad}"
            );
        }
    }
}
