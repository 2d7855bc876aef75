//! The stack images, made here from Debian packages: debootstrap a base tree once, run the
//! embedded `prepare-rootfs.sh` on a copy for each image, and stream the tree into the
//! engine's image import. No registry is involved. The add-on images (`addon_image.rs`)
//! are made the same way, through `DebianImage`, `ensure_image` and `build_image`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::progress::Progress;
use crate::runtime::Docker;

use super::{BuildError, embedded, source};

pub const DEFAULT_BUILD_IMAGE: &str = "paas/stack-build:bookworm";
pub const DEFAULT_RUN_IMAGE: &str = "paas/stack-run:bookworm";
const SUITE: &str = "bookworm";
const INPUTS_LABEL: &str = "paas.stack.inputs";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackKind {
    Run,
    Build,
}

impl StackKind {
    fn name(self) -> &'static str {
        match self {
            StackKind::Run => "run",
            StackKind::Build => "build",
        }
    }

    fn default_image(self) -> &'static str {
        match self {
            StackKind::Run => DEFAULT_RUN_IMAGE,
            StackKind::Build => DEFAULT_BUILD_IMAGE,
        }
    }

    fn image(self) -> DebianImage {
        DebianImage {
            kind: self.name(),
            what: format!("{} stack image", self.name()),
            default_name: self.default_image(),
            changes: vec![
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
                "ENV LANG=C.UTF-8".to_owned(),
                "ENV HOME=/app".to_owned(),
                format!("ENV STACK={SUITE}"),
                "USER app".to_owned(),
                "WORKDIR /app".to_owned(),
                "CMD [\"/bin/bash\"]".to_owned(),
                format!("LABEL paas.stack={SUITE} paas.stack.kind={}", self.name()),
            ],
            stop_signal: None,
        }
    }
}

/// One image made from Debian packages by `prepare-rootfs.sh`: a stack or an add-on.
pub(crate) struct DebianImage {
    /// `prepare-rootfs.sh`'s KIND (`run`, `postgres`...), also naming its tree in the work dir.
    pub kind: &'static str,
    /// What progress lines call it: `run stack image`, `postgres add-on image`.
    pub what: String,
    /// The name of the newest such image (`paas/stack-run:bookworm`); the image made from
    /// some inputs is used by `NAME-<inputs digest>`.
    pub default_name: &'static str,
    /// The image config, as the engine's import takes it (`ENV`, `USER`, `CMD`, `LABEL`...);
    /// the inputs label is added.
    pub changes: Vec<String>,
    /// A `STOPSIGNAL`, which the import does not take (Engine 20.10): a metadata-only build
    /// `FROM` the imported tree sets it.
    pub stop_signal: Option<&'static str>,
}

impl DebianImage {
    /// The name of the image made from these inputs.
    fn exact_name(&self, inputs: &str) -> String {
        format!("{}-{inputs}", self.default_name)
    }
}

/// The images builds run in and apps run on.
#[derive(Debug, Clone)]
pub struct Stacks {
    pub build: String,
    pub run: String,
}

/// Where the stack images come from: our own (built when missing or stale), or images the
/// operator named.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub build_image: Option<String>,
    pub run_image: Option<String>,
    /// Debootstrap's and apt's download caches and the base tree live here.
    pub work_dir: PathBuf,
    pub mirror: String,
    pub extra_ca_certs: Option<PathBuf>,
}

/// What a stack image is made from: the embedded scripts and buildpacks, and the extra
/// CA certificates; an image labelled with other inputs is rebuilt.
fn inputs(settings: &StackSettings) -> String {
    let Some(dir) = &settings.extra_ca_certs else {
        return embedded::digest().to_owned();
    };
    let mut certs: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "crt"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    certs.sort();
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(embedded::digest());
    for (name, bytes) in certs {
        hash.update(name);
        hash.update(bytes);
    }
    hex::encode(hash.finalize())[..16].to_owned()
}

/// Makes sure both images exist, building ours when missing or made from other inputs.
///
/// Our images are used by a name that carries their inputs digest
/// (`paas/stack-run:bookworm-<digest>`), and `paas/stack-run:bookworm` names the newest:
/// two servers with different inputs (another binary, other extra CAs) on one engine each
/// keep the image they need instead of rebuilding it back and forth.
pub async fn ensure(
    docker: &Docker,
    settings: &StackSettings,
    progress: &Progress,
) -> Result<Stacks, BuildError> {
    let mut images = Vec::new();
    for (kind, chosen) in [
        (StackKind::Run, &settings.run_image),
        (StackKind::Build, &settings.build_image),
    ] {
        let image = match chosen {
            Some(image) => {
                if docker.image(image).await?.is_none() {
                    let var = format!("PAAS_STACK_{}_IMAGE", kind.name().to_uppercase());
                    return Err(BuildError::Stack(format!(
                        "{var}={image} is not in the Docker engine; load it there (docker load) or unset {var}"
                    )));
                }
                image.clone()
            }
            None => ensure_image(docker, settings, &kind.image(), progress).await?,
        };
        images.push(image);
    }
    Ok(Stacks {
        run: images[0].clone(),
        build: images[1].clone(),
    })
}

/// The name of `image` made from this binary's inputs, building it when missing (once,
/// whichever paas process on this host asks first). Another name carrying these inputs
/// (the default name of an image made before the naming scheme) is tagged, not rebuilt.
pub(crate) async fn ensure_image(
    docker: &Docker,
    settings: &StackSettings,
    image: &DebianImage,
    progress: &Progress,
) -> Result<String, BuildError> {
    let inputs = inputs(settings);
    let exact = image.exact_name(&inputs);
    if docker.image(&exact).await?.is_some() {
        return Ok(exact);
    }
    let _work = WorkDirLock::acquire(&settings.work_dir, progress).await?;
    if docker.image(&exact).await?.is_some() {
        // Another paas process built it while this one waited.
        return Ok(exact);
    }
    let named = docker.image(image.default_name).await?;
    if named.is_some_and(|i| i.labels.get(INPUTS_LABEL) == Some(&inputs)) {
        let (repo, tag) = split_name(&exact);
        docker.tag_image(image.default_name, repo, tag).await?;
    } else {
        progress.step(format!(
            "Building the {} {} from Debian packages (once)",
            image.what, image.default_name
        ));
        build_locked(docker, settings, image, progress).await?;
    }
    Ok(exact)
}

fn split_name(image: &str) -> (&str, &str) {
    image.rsplit_once(':').unwrap_or((image, "latest"))
}

/// Builds one stack image, even when it is current; the base tree and package downloads
/// are kept for next time.
pub async fn build(
    docker: &Docker,
    settings: &StackSettings,
    kind: StackKind,
    progress: &Progress,
) -> Result<(), BuildError> {
    build_image(docker, settings, &kind.image(), progress).await
}

/// Builds `image` from Debian packages, even when it is current.
pub(crate) async fn build_image(
    docker: &Docker,
    settings: &StackSettings,
    image: &DebianImage,
    progress: &Progress,
) -> Result<(), BuildError> {
    let _work = WorkDirLock::acquire(&settings.work_dir, progress).await?;
    build_locked(docker, settings, image, progress).await
}

/// The work dir's lock file, held while one paas process builds there: servers and
/// `paas stack:build` of other binaries may share a data dir, and its scripts, trees and
/// apt cache are one set. Released when dropped (the lock goes with the file).
struct WorkDirLock {
    _file: std::fs::File,
}

impl WorkDirLock {
    async fn acquire(work: &Path, progress: &Progress) -> Result<WorkDirLock, BuildError> {
        let io = |e: std::io::Error| {
            BuildError::Stack(format!(
                "cannot lock the stack work dir {}: {e}; paas stack:build needs root",
                work.display()
            ))
        };
        std::fs::create_dir_all(work).map_err(io)?;
        let file = std::fs::File::create(work.join("lock")).map_err(io)?;
        match file.try_lock() {
            Ok(()) => return Ok(WorkDirLock { _file: file }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            Err(std::fs::TryLockError::WouldBlock) => {}
        }
        progress.detail(format!(
            "waiting for another paas process building images in {}",
            work.display()
        ));
        tokio::task::spawn_blocking(move || file.lock().map(|()| WorkDirLock { _file: file }))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)
    }
}

/// `build_image` for a caller holding the work dir's lock.
async fn build_locked(
    docker: &Docker,
    settings: &StackSettings,
    image: &DebianImage,
    progress: &Progress,
) -> Result<(), BuildError> {
    let work = &settings.work_dir;
    let files = work.join("files");
    let base = work.join("base");
    let rootfs = work.join(format!("{}-rootfs", image.kind));
    let io = |what: &str, e: std::io::Error| BuildError::Stack(format!("{what}: {e}"));
    let _ = tokio::fs::remove_dir_all(&files).await;
    std::fs::create_dir_all(work.join("debs"))
        .map_err(|e| io("cannot create the stack work dir", e))?;
    std::fs::create_dir_all(work.join("apt"))
        .map_err(|e| io("cannot create the stack work dir", e))?;
    embedded::write_to(&files).map_err(|e| io("cannot write the stack scripts", e))?;

    if !base.join("etc/debian_version").exists() {
        progress.detail(format!("debootstrap {SUITE} from {}", settings.mirror));
        let partial = work.join("base.partial");
        let _ = tokio::fs::remove_dir_all(&partial).await;
        let mut cmd = Command::new("debootstrap");
        cmd.arg("--variant=minbase")
            .arg(format!("--cache-dir={}", work.join("debs").display()))
            .arg(SUITE)
            .arg(&partial)
            .arg(&settings.mirror);
        run_logged(cmd, "debootstrap", progress).await?;
        tokio::fs::rename(&partial, &base)
            .await
            .map_err(|e| io("cannot keep the base tree", e))?;
    }
    let _ = tokio::fs::remove_dir_all(&rootfs).await;
    let mut copy = Command::new("cp");
    copy.arg("-a").arg(&base).arg(&rootfs);
    run_logged(copy, "copying the base tree", progress).await?;

    progress.detail(format!("installing the {} packages", image.kind));
    let mut prepare = Command::new(files.join("stack/prepare-rootfs.sh"));
    prepare
        .arg(&rootfs)
        .arg(image.kind)
        .env("PAAS_STACK_FILES", files.join("stack"))
        .env("PAAS_BUILDPACKS_DIR", files.join("buildpacks"))
        .env("PAAS_APT_CACHE_DIR", work.join("apt"))
        .env("PAAS_DEBIAN_MIRROR", &settings.mirror);
    if let Some(certs) = &settings.extra_ca_certs {
        prepare.env("PAAS_EXTRA_CA_CERTS", certs);
    }
    let prepared = run_logged(prepare, "prepare-rootfs.sh", progress).await;
    if let Err(e) = prepared {
        let _ = tokio::fs::remove_dir_all(&rootfs).await;
        return Err(e);
    }

    progress.detail(format!(
        "importing {} into the Docker engine",
        image.default_name
    ));
    let inputs = inputs(settings);
    let exact = image.exact_name(&inputs);
    // With a stop signal to set, the import is a step under a name of its own.
    let imported_name = match image.stop_signal {
        Some(_) => format!("{exact}-import"),
        None => exact.clone(),
    };
    let (repo, tag) = split_name(&imported_name);
    let mut changes = image.changes.clone();
    changes.push(format!("LABEL {INPUTS_LABEL}={inputs}"));
    let imported = docker
        .import_rootfs(rootfs_tar(rootfs.clone()), repo, tag, changes)
        .await;
    let _ = tokio::fs::remove_dir_all(&rootfs).await;
    imported?;
    if let Some(signal) = image.stop_signal {
        let dockerfile = format!("FROM {imported_name}\nSTOPSIGNAL {signal}\n");
        let context = source::memory_tar(&[("Dockerfile", dockerfile.as_bytes())])
            .map_err(|e| io("cannot make the build context", e))?;
        let context = bytes::Bytes::from(context);
        let built = docker
            .build_quietly(
                || futures_util::stream::iter([Ok(context.clone())]),
                &exact,
                512,
            )
            .await;
        // Only a name goes: the image's layers are the built one's.
        let _ = docker.remove_image(&imported_name).await;
        built.map_err(|e| {
            BuildError::Stack(format!(
                "cannot set the stop signal of {exact} (a BuildKit build FROM {imported_name}): {e}"
            ))
        })?;
    }
    let (repo, tag) = split_name(image.default_name);
    docker.tag_image(&exact, repo, tag).await?;
    let size = docker.image(&exact).await?.map_or(0, |i| i.size);
    progress.detail(format!(
        "{} is ready ({} MB)",
        image.default_name,
        size / 1_000_000
    ));
    Ok(())
}

/// Runs a set-up command, showing its output as indented lines; fails with its last lines.
async fn run_logged(mut cmd: Command, what: &str, progress: &Progress) -> Result<(), BuildError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BuildError::Stack(format!("cannot run {what}: {e}; paas stack:build needs root and debootstrap (apt-get install debootstrap)")))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut lines = futures_util::stream::select(lines_of(stdout), lines_of(stderr));
    use futures_util::StreamExt;
    while let Some(line) = lines.next().await {
        if tail.len() == 8 {
            tail.pop_front();
        }
        tail.push_back(line.clone());
        tracing::debug!(what, line, "stack build");
        if line.starts_with("prepare-rootfs[") || line.starts_with("I: Base system installed") {
            progress.detail(line);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| BuildError::Stack(format!("{what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        let tail: Vec<String> = tail.into_iter().collect();
        Err(BuildError::Stack(format!(
            "{what} failed ({status}): {}",
            tail.join(" / ")
        )))
    }
}

fn lines_of<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    reader: Option<R>,
) -> futures_util::stream::BoxStream<'static, String> {
    use futures_util::StreamExt;
    match reader {
        Some(reader) => {
            futures_util::stream::unfold(BufReader::new(reader).lines(), |mut lines| async move {
                lines
                    .next_line()
                    .await
                    .ok()
                    .flatten()
                    .map(|line| (line, lines))
            })
            .boxed()
        }
        None => futures_util::stream::empty().boxed(),
    }
}

/// The root filesystem as a tar stream: numeric owners, modes and symlinks kept as on disk.
fn rootfs_tar(
    rootfs: PathBuf,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let sink = source::ChannelWriter::new(tx.clone());
        if let Err(e) = write_rootfs(&rootfs, sink) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    source::channel_stream(rx)
}

fn write_rootfs(rootfs: &Path, sink: source::ChannelWriter) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(sink);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", rootfs)?;
    let mut sink = tar.into_inner()?;
    std::io::Write::flush(&mut sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_builder_waits_for_the_work_dir_until_the_first_is_done() {
        let work = tempfile::tempdir().expect("temp work dir");
        let first = WorkDirLock::acquire(work.path(), &Progress::silent())
            .await
            .expect("the first takes the lock");
        let (progress, mut lines) = Progress::channel();
        let path = work.path().to_owned();
        let second =
            tokio::spawn(async move { WorkDirLock::acquire(&path, &progress).await.map(drop) });
        let line = lines.recv().await.expect("the second says why it waits");
        assert!(line.contains("waiting for another paas process"), "{line}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second waits");
        drop(first);
        second
            .await
            .expect("the second ends")
            .expect("and takes the lock");
    }
}
