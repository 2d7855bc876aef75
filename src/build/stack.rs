//! The stack images, made here from Debian packages: debootstrap a base tree once, run the
//! embedded `prepare-rootfs.sh` on a copy for each image, and stream the tree into the
//! engine's image import. No registry is involved.

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

    /// The name of the image made from these inputs.
    fn exact_image(self, inputs: &str) -> String {
        format!("{}-{inputs}", self.default_image())
    }

    fn default_image(self) -> &'static str {
        match self {
            StackKind::Run => DEFAULT_RUN_IMAGE,
            StackKind::Build => DEFAULT_BUILD_IMAGE,
        }
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
    let inputs = inputs(settings);
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
            None => {
                let exact = kind.exact_image(&inputs);
                if docker.image(&exact).await?.is_none() {
                    let named = docker.image(kind.default_image()).await?;
                    if named.is_some_and(|i| i.labels.get(INPUTS_LABEL) == Some(&inputs)) {
                        let (repo, tag) = split_name(&exact);
                        docker.tag_image(kind.default_image(), repo, tag).await?;
                    } else {
                        progress.step(format!(
                            "Building the {} stack image {} from Debian packages (once)",
                            kind.name(),
                            kind.default_image()
                        ));
                        build(docker, settings, kind, progress).await?;
                    }
                }
                exact
            }
        };
        images.push(image);
    }
    Ok(Stacks {
        run: images[0].clone(),
        build: images[1].clone(),
    })
}

fn split_name(image: &str) -> (&str, &str) {
    image.rsplit_once(':').unwrap_or((image, "latest"))
}

/// Builds one stack image; the base tree and package downloads are kept for next time.
pub async fn build(
    docker: &Docker,
    settings: &StackSettings,
    kind: StackKind,
    progress: &Progress,
) -> Result<(), BuildError> {
    let work = &settings.work_dir;
    let files = work.join("files");
    let base = work.join("base");
    let rootfs = work.join(format!("{}-rootfs", kind.name()));
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

    progress.detail(format!("installing the {} packages", kind.name()));
    let mut prepare = Command::new(files.join("stack/prepare-rootfs.sh"));
    prepare
        .arg(&rootfs)
        .arg(kind.name())
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
        kind.default_image()
    ));
    let inputs = inputs(settings);
    let exact = kind.exact_image(&inputs);
    let (repo, tag) = split_name(&exact);
    let changes = vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        "ENV LANG=C.UTF-8".to_owned(),
        "ENV HOME=/app".to_owned(),
        format!("ENV STACK={SUITE}"),
        "USER app".to_owned(),
        "WORKDIR /app".to_owned(),
        "CMD [\"/bin/bash\"]".to_owned(),
        format!(
            "LABEL paas.stack={SUITE} paas.stack.kind={} {INPUTS_LABEL}={}",
            kind.name(),
            inputs
        ),
    ];
    let imported = docker
        .import_rootfs(rootfs_tar(rootfs.clone()), repo, tag, changes)
        .await;
    let _ = tokio::fs::remove_dir_all(&rootfs).await;
    imported?;
    let (repo, tag) = split_name(kind.default_image());
    docker.tag_image(&exact, repo, tag).await?;
    let size = docker.image(&exact).await?.map_or(0, |i| i.size);
    progress.detail(format!(
        "{} is ready ({} MB)",
        kind.default_image(),
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
