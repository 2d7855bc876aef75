//! Backups of Postgres add-ons: `pg_dump -Fc` runs in a one-off container of the add-on's
//! own image, on the app's network, against the live database; its output is streamed
//! (never held whole) into `DATA/backups/APP/ID.dump.partial` while hashed, and renamed to
//! `ID.dump` only when pg_dump succeeded. A restore streams the file into `pg_restore
//! --clean --if-exists` the same way. `sql` runs one statement with psql the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::runtime::{Attached, OutputStream, ProcessKind, ProcessSpec};
use crate::store::AddonRow;

use super::{AddonError, Addons};

/// What a tool container runs against: which add-on, from which app's network, with
/// which image.
pub struct Tool<'a> {
    pub addon: &'a AddonRow,
    pub app: &'a str,
    pub image: &'a str,
}

/// How much of a tool's stderr is kept for its error message.
const STDERR_TAIL: usize = 2048;
const TOOL_MEMORY_MB: u32 = 512;

impl Addons {
    /// Where backup `id` of `app` is kept.
    pub fn backup_path(&self, app: &str, id: i64) -> PathBuf {
        self.backups_dir.join(app).join(format!("{id}.dump"))
    }

    /// Takes backup `id`: its size in bytes and SHA-256 (hex).
    pub async fn capture(&self, tool: Tool<'_>, id: i64) -> Result<(u64, String), AddonError> {
        let path = self.backup_path(tool.app, id);
        let partial = path.with_extension("dump.partial");
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| AddonError::Io { what, source }
        };
        let dir = path.parent().unwrap_or(&self.backups_dir).to_path_buf();
        create_private_dir(&dir).map_err(io("cannot make the backups directory"))?;
        let argv = ["pg_dump", "-Fc", "--no-password"];
        let (id_in_engine, mut attached) = self.start_tool(&tool, "backup", &argv).await?;
        let written = async {
            // Chunks from the engine are small: buffered, one blocking write per MiB.
            let mut file = tokio::io::BufWriter::with_capacity(
                1 << 20,
                tokio::fs::File::create(&partial)
                    .await
                    .map_err(io("cannot create the backup file"))?,
            );
            let mut hash = sha2::Sha256::new();
            let mut size = 0u64;
            let mut stderr = Vec::new();
            while let Some(item) = attached.output.next().await {
                match item? {
                    (OutputStream::Stdout, bytes) => {
                        hash.update(&bytes);
                        size += bytes.len() as u64;
                        file.write_all(&bytes).await.map_err(io(
                            "writing the backup failed (is the disk full? free space under the data dir and capture again)",
                        ))?;
                    }
                    (OutputStream::Stderr, bytes) => keep_tail(&mut stderr, &bytes),
                }
            }
            file.flush().await.map_err(io(
                "writing the backup failed (is the disk full? free space under the data dir and capture again)",
            ))?;
            file.get_ref()
                .sync_all()
                .await
                .map_err(io("cannot write the backup to disk"))?;
            Ok::<_, AddonError>((size, hex::encode(hash.finalize()), stderr))
        }
        .await;
        drop(attached);
        let code = match &written {
            Ok(_) => self.finish_tool(&id_in_engine).await,
            // pg_dump would block on a full pipe nobody reads: stop it.
            Err(_) => {
                let _ = self.docker.remove_container(&id_in_engine).await;
                Ok(-1)
            }
        };
        let outcome = written.and_then(|(size, sha, stderr)| match code {
            Ok(0) => Ok((size, sha)),
            Ok(code) => Err(tool_failed("pg_dump", code, &stderr)),
            Err(e) => Err(e),
        });
        match outcome {
            Ok(done) => {
                tokio::fs::rename(&partial, &path)
                    .await
                    .map_err(io("cannot keep the backup file"))?;
                Ok(done)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(e)
            }
        }
    }

    /// Restores `file` into the live database (its tables are dropped and made again).
    pub async fn restore(&self, tool: Tool<'_>, file: &Path) -> Result<(), AddonError> {
        let mut source = tokio::fs::File::open(file)
            .await
            .map_err(|source| AddonError::Io {
                what: "cannot read the backup file".to_owned(),
                source,
            })?;
        let argv = [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--no-password",
        ];
        let (id_in_engine, attached) = self.start_tool(&tool, "restore", &argv).await?;
        let Attached { mut input, output } = attached;
        let feed = async move {
            let copied = tokio::io::copy(&mut source, &mut input).await;
            let _ = input.shutdown().await;
            copied
        };
        let read = async move {
            let mut stderr = Vec::new();
            let mut output = output;
            while let Some(Ok((_, bytes))) = output.next().await {
                keep_tail(&mut stderr, &bytes);
            }
            stderr
        };
        let (fed, stderr) = tokio::join!(feed, read);
        let code = self.finish_tool(&id_in_engine).await?;
        fed.map_err(|source| AddonError::Io {
            what: "sending the backup to pg_restore".to_owned(),
            source,
        })?;
        match code {
            0 => Ok(()),
            code => Err(tool_failed("pg_restore", code, &stderr)),
        }
    }

    /// Runs one SQL statement with psql and returns its rows (tab-separated fields, one
    /// line each), for `pg:info`, `pg:ps` and `pg:kill`.
    pub async fn sql(&self, tool: Tool<'_>, statement: &str) -> Result<String, AddonError> {
        let argv = [
            "psql",
            "-X",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            statement,
        ];
        let (id_in_engine, attached) = self.start_tool(&tool, "psql", &argv).await?;
        let Attached { mut input, output } = attached;
        let _ = input.shutdown().await;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut output = output;
        while let Some(Ok((stream, bytes))) = output.next().await {
            match stream {
                OutputStream::Stdout if stdout.len() < 1 << 20 => stdout.extend_from_slice(&bytes),
                OutputStream::Stdout => {}
                OutputStream::Stderr => keep_tail(&mut stderr, &bytes),
            }
        }
        match self.finish_tool(&id_in_engine).await? {
            0 => Ok(String::from_utf8_lossy(&stdout).into_owned()),
            code => Err(tool_failed("psql", code, &stderr)),
        }
    }

    /// Creates a one-off container of the add-on's image on `tool.app`'s network running
    /// the Postgres client `argv` against the add-on's database, attached, with the
    /// password in its environment (never on a command line).
    async fn start_tool(
        &self,
        tool: &Tool<'_>,
        label: &str,
        argv: &[&str],
    ) -> Result<(String, Attached), AddonError> {
        let spec = ProcessSpec {
            app: tool.app.to_owned(),
            release: 0,
            process_type: label.to_owned(),
            index: 1000 + rand::random::<u32>() % 9000,
            kind: ProcessKind::OneOff,
            image: tool.image.to_owned(),
            argv: Some(
                argv.iter()
                    .chain(&["-h", tool.addon.name.as_str(), "-U", "paas", "-d", "paas"])
                    .map(|a| (*a).to_owned())
                    .collect(),
            ),
            user: None,
            env: BTreeMap::from([("PGPASSWORD".to_owned(), tool.addon.password.clone())]),
            memory_mb: TOOL_MEMORY_MB,
            interactive: true,
            tty: false,
        };
        let instance = self.docker.start_process(spec).await?;
        match self.docker.attach_and_start(&instance.id).await {
            Ok(attached) => Ok((instance.id, attached)),
            Err(e) => {
                let _ = self.docker.remove_container(&instance.id).await;
                Err(e.into())
            }
        }
    }

    /// Waits for a tool container's exit code, then removes it.
    async fn finish_tool(&self, id: &str) -> Result<i64, AddonError> {
        let code = self.docker.wait_exit(id).await;
        let _ = self.docker.remove_container(id).await;
        Ok(code?)
    }

    /// Writes an uploaded dump (`pg:backups:restore FILE`) to a private file under the
    /// app's backups directory, for `restore`; the caller removes it after.
    pub async fn receive<S, E>(&self, app: &str, mut body: S) -> Result<PathBuf, AddonError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dir = self.backups_dir.join(app);
        let io = |what: &'static str| {
            move |source| AddonError::Io {
                what: what.to_owned(),
                source,
            }
        };
        create_private_dir(&dir).map_err(io("cannot make the backups directory"))?;
        let path = dir.join(format!(
            "upload-{}.dump.partial",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let received = async {
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(io("cannot store the uploaded dump"))?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    AddonError::Tool(format!("the upload broke off ({e}); send the file again"))
                })?;
                file.write_all(&chunk).await.map_err(io(
                    "storing the uploaded dump failed (is the disk full? free space under the data dir)",
                ))?;
            }
            file.sync_all().await.map_err(io("cannot store the uploaded dump"))
        }
        .await;
        match received {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// Removes the files of backups a dead server left half written.
    pub fn remove_partial_backups(&self) {
        let Ok(apps) = std::fs::read_dir(&self.backups_dir) else {
            return;
        };
        for app in apps.flatten() {
            for file in std::fs::read_dir(app.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if file.path().to_string_lossy().ends_with(".partial") {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn keep_tail(kept: &mut Vec<u8>, bytes: &[u8]) {
    kept.extend_from_slice(bytes);
    if kept.len() > STDERR_TAIL {
        kept.drain(..kept.len() - STDERR_TAIL);
    }
}

/// `pg_dump exited with 1: <its last stderr lines, on one line>`.
fn tool_failed(tool: &str, code: i64, stderr: &[u8]) -> AddonError {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    AddonError::Tool(format!("{tool} exited with {code}: {tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_failure_keeps_its_last_lines_on_one_line() {
        let mut kept = Vec::new();
        keep_tail(&mut kept, &vec![b'x'; 5000]);
        keep_tail(
            &mut kept,
            b"\npg_dump: error: connection failed\nFATAL: no\n",
        );
        assert_eq!(kept.len(), STDERR_TAIL);
        let e = tool_failed("pg_dump", 1, &kept).to_string();
        assert!(e.starts_with("pg_dump exited with 1: "), "{e}");
        assert!(
            e.ends_with("pg_dump: error: connection failed / FATAL: no"),
            "{e}"
        );
    }
}
