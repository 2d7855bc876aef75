//! Images: stack imports from a root filesystem, slug and Dockerfile builds from a context
//! stream, inspection, pushes to a registry, and pruning.

use std::collections::HashMap;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    PruneBuildOptionsBuilder, RemoveImageOptionsBuilder,
};
use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt};

use super::{Docker, RuntimeError, label_filter, labels};

#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub size: i64,
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// How one image is built from a tar context.
pub struct ImageBuild<'a> {
    pub tag: &'a str,
    pub labels: &'a HashMap<String, String>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: &'a str,
    /// The stage to build; the last one when None.
    pub target: Option<&'a str>,
    pub build_args: &'a std::collections::BTreeMap<String, String>,
    pub memory_mb: u32,
    /// Without the cache no layer is shared with other builds, so removing another app's
    /// image can never pull one from under it.
    pub use_cache: bool,
}

impl Docker {
    pub async fn image(&self, name: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        match self.api.inspect_image(name).await {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                size: image.size.unwrap_or(0),
                tags: image.repo_tags.unwrap_or_default(),
                labels: image.config.and_then(|c| c.labels).unwrap_or_default(),
            })),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// `docker import`: a root filesystem tar becomes `repo:tag`, with Dockerfile-style
    /// `changes` (`ENV`, `USER`, `WORKDIR`, `CMD`).
    pub async fn import_rootfs<S>(
        &self,
        rootfs: S,
        repo: &str,
        tag: &str,
        changes: Vec<String>,
    ) -> Result<(), RuntimeError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        let mut progress =
            self.api
                .create_image(Some(options), Some(bollard::body_try_stream(rootfs)), None);
        while let Some(item) = progress.next().await {
            item.map_err(self.fail())?;
        }
        Ok(())
    }

    /// Builds an image from a tar context, reporting each output line; no image is ever
    /// pulled.
    pub async fn build_from_context<S>(
        &self,
        context: S,
        build: ImageBuild<'_>,
        mut on_line: impl FnMut(&str) + Send,
    ) -> Result<(), RuntimeError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let ImageBuild {
            tag,
            labels: image_labels,
            dockerfile,
            target,
            build_args,
            memory_mb,
            use_cache,
        } = build;
        let memory = i32::try_from(u64::from(memory_mb) * 1024 * 1024).unwrap_or(i32::MAX);
        let build_args: HashMap<&str, &str> = build_args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // RUN steps join the network of the app the image is labelled with, like its
        // build containers: never the shared default bridge.
        let network = match image_labels.get(labels::APP) {
            Some(app) => self.ensure_app_network(app).await?,
            None => "none".to_owned(),
        };
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .target(target.unwrap_or_default())
            .buildargs(&build_args)
            .networkmode(&network)
            .t(tag)
            .rm(true)
            .forcerm(true)
            .pull("false")
            .nocache(!use_cache)
            .memory(memory)
            .labels(image_labels)
            .build();
        let mut output =
            self.api
                .build_image(options, None, Some(bollard::body_try_stream(context)));
        while let Some(item) = output.next().await {
            let info = item.map_err(self.fail())?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(RuntimeError::Stream(detail));
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                }
            }
        }
        Ok(())
    }

    /// Gives `source` the name `repo:tag` as well.
    pub async fn tag_image(&self, source: &str, repo: &str, tag: &str) -> Result<(), RuntimeError> {
        let options = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.api
            .tag_image(source, Some(options))
            .await
            .map_err(self.fail())
    }

    /// Pushes `repo:tag` (`10.99.0.1:5443/paas/APP:b3`) to the registry its name starts
    /// with, which this engine must trust (its `certs.d`). No credentials: the registry
    /// paas runs has none.
    pub async fn push_image(&self, repo: &str, tag: &str) -> Result<(), RuntimeError> {
        let options = bollard::query_parameters::PushImageOptionsBuilder::default()
            .tag(tag)
            .build();
        let mut progress = self.api.push_image(repo, Some(options), None);
        while let Some(item) = progress.next().await {
            match item {
                Ok(_) => {}
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(RuntimeError::Stream(error));
                }
                Err(e) => return Err(self.fail()(e)),
            }
        }
        Ok(())
    }

    /// Images paas built for `app`, newest first.
    pub async fn app_images(&self, app: &str) -> Result<Vec<ImageInfo>, RuntimeError> {
        let options = ListImagesOptionsBuilder::default()
            .filters(&label_filter(&[
                (labels::MANAGED, &self.instance),
                (labels::APP, app),
            ]))
            .build();
        let mut images = self
            .api
            .list_images(Some(options))
            .await
            .map_err(self.fail())?;
        images.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(images
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                size: i.size,
                tags: i.repo_tags,
                labels: i.labels,
            })
            .collect())
    }

    /// Drops the BuildKit cache records `ids` that no build used for `keep`, and returns
    /// the ids the engine deleted. Only those records: other builds' cache on the same
    /// engine is not ours to drop. (Docker 20.10 takes one value per filter; `id` is a
    /// regular expression.)
    pub async fn prune_build_cache(
        &self,
        ids: &[String],
        keep: std::time::Duration,
    ) -> Result<Vec<String>, RuntimeError> {
        let ids: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filters = HashMap::from([
            ("id".to_owned(), vec![format!("^({})$", ids.join("|"))]),
            ("until".to_owned(), vec![format!("{}s", keep.as_secs())]),
        ]);
        let options = PruneBuildOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let pruned = self
            .api
            .prune_build(Some(options))
            .await
            .map_err(self.fail())?;
        Ok(pruned.caches_deleted.unwrap_or_default())
    }

    pub async fn remove_image(&self, name: &str) -> Result<(), RuntimeError> {
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        match self.api.remove_image(name, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Creates the named volume (labelled as ours) unless it exists.
    pub async fn ensure_volume(&self, name: &str) -> Result<(), RuntimeError> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some([(labels::MANAGED.to_owned(), self.instance.clone())].into()),
            ..Default::default()
        };
        self.api
            .create_volume(request)
            .await
            .map(drop)
            .map_err(self.fail())
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        let options = bollard::query_parameters::RemoveVolumeOptionsBuilder::default()
            .force(true)
            .build();
        match self.api.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }
}
