//! `heroku.yml`, Heroku's manifest for Docker builds: the Dockerfile that builds the image
//! (`build.docker`), its build arguments (`build.config`), the process types (`run`) and
//! the release phase (`release.command`). `setup` is for `heroku create --manifest` and
//! is not read. The one module that reads YAML (serde_norway).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Invalid, ProcessType};

/// What a build takes from heroku.yml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HerokuYml {
    /// The Dockerfile's path in the repository.
    pub dockerfile: String,
    /// The stage to build (`target:`), when given.
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// Process types and their commands (`release` is the release phase); empty when
    /// heroku.yml has no `run`: the image's own command is the web process.
    pub commands: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Raw {
    build: Option<RawBuild>,
    #[serde(default)]
    run: BTreeMap<String, RawRun>,
    release: Option<RawRelease>,
}

#[derive(Deserialize)]
struct RawBuild {
    #[serde(default)]
    docker: BTreeMap<String, RawDocker>,
    #[serde(default)]
    config: BTreeMap<String, serde_norway::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDocker {
    Path(String),
    Detailed {
        dockerfile: String,
        target: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRun {
    Command(RawCommand),
    Detailed { command: RawCommand },
}

#[derive(Deserialize)]
struct RawRelease {
    command: RawCommand,
}

impl RawCommand {
    /// One shell command line; an exec list is quoted word by word.
    fn line(self) -> String {
        match self {
            RawCommand::Shell(line) => line,
            RawCommand::Exec(words) => words
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl HerokuYml {
    pub fn parse(text: &str) -> Result<HerokuYml, Invalid> {
        let raw: Raw = serde_norway::from_str(text)
            .map_err(|e| Invalid::new(format!("heroku.yml is not valid: {e}")))?;
        let build = raw.build.ok_or_else(|| {
            Invalid::new("heroku.yml has no build section: add build: docker: web: Dockerfile")
        })?;
        let (dockerfile, target) = one_dockerfile(build.docker)?;
        let build_args = build
            .config
            .into_iter()
            .map(|(k, v)| Ok((k.clone(), scalar(&k, v)?)))
            .collect::<Result<_, Invalid>>()?;
        let mut commands = BTreeMap::new();
        for (name, run) in raw.run {
            ProcessType::parse(&name).map_err(|e| Invalid::new(format!("heroku.yml run: {e}")))?;
            let command = match run {
                RawRun::Command(c) | RawRun::Detailed { command: c } => c.line(),
            };
            commands.insert(name, command);
        }
        if let Some(release) = raw.release {
            commands.insert("release".to_owned(), release.command.line());
        }
        Ok(HerokuYml {
            dockerfile,
            target,
            build_args,
            commands,
        })
    }
}

/// paas builds one image per app: every process type's entry must name the same file.
fn one_dockerfile(
    docker: BTreeMap<String, RawDocker>,
) -> Result<(String, Option<String>), Invalid> {
    let mut chosen: Option<(String, Option<String>)> = None;
    for (name, entry) in docker {
        let (path, target) = match entry {
            RawDocker::Path(path) => (path, None),
            RawDocker::Detailed { dockerfile, target } => (dockerfile, target),
        };
        let path = checked_path(&name, &path)?;
        match &chosen {
            None => chosen = Some((path, target)),
            Some(first) if *first == (path.clone(), target.clone()) => {}
            Some((first, _)) => {
                return Err(Invalid::new(format!(
                    "heroku.yml build.docker: {name} is built from {path} but another type from {first}; paas builds one image per app: point every type at one Dockerfile"
                )));
            }
        }
    }
    chosen.ok_or_else(|| {
        Invalid::new("heroku.yml build.docker names no Dockerfile: add web: Dockerfile")
    })
}

fn checked_path(name: &str, path: &str) -> Result<String, Invalid> {
    let path = path.trim().trim_start_matches("./");
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|part| part == ".." || part.is_empty());
    if bad {
        return Err(Invalid::new(format!(
            "heroku.yml build.docker.{name}: \"{path}\" must be a path inside the repository, like Dockerfile or docker/web.Dockerfile"
        )));
    }
    Ok(path.to_owned())
}

fn scalar(name: &str, value: serde_norway::Value) -> Result<String, Invalid> {
    match value {
        serde_norway::Value::String(s) => Ok(s),
        serde_norway::Value::Number(n) => Ok(n.to_string()),
        serde_norway::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Invalid::new(format!(
            "heroku.yml build.config.{name}: give a string, number or boolean"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_herokus_example_manifest() {
        let parsed = HerokuYml::parse(
            "setup:\n  addons:\n    - plan: heroku-postgresql\nbuild:\n  docker:\n    web: Dockerfile\n    worker: ./Dockerfile\n  config:\n    RAILS_ENV: development\n    WORKERS: 2\nrelease:\n  command:\n    - ./deployment-tasks.sh\n  image: worker\nrun:\n  web: bundle exec puma -C config/puma.rb\n  worker:\n    command:\n      - python\n      - worker.py\n      - --queue=a b\n    image: web\n",
        )
        .unwrap();
        assert_eq!(parsed.dockerfile, "Dockerfile");
        assert_eq!(parsed.build_args["WORKERS"], "2");
        assert_eq!(parsed.commands["web"], "bundle exec puma -C config/puma.rb");
        assert_eq!(parsed.commands["worker"], "python worker.py '--queue=a b'");
        assert_eq!(parsed.commands["release"], "./deployment-tasks.sh");
    }

    #[test]
    fn a_target_and_no_run_section_are_read() {
        let parsed =
            HerokuYml::parse("build:\n  docker:\n    web:\n      dockerfile: docker/app.Dockerfile\n      target: prod\n")
                .unwrap();
        assert_eq!(parsed.dockerfile, "docker/app.Dockerfile");
        assert_eq!(parsed.target.as_deref(), Some("prod"));
        assert!(parsed.commands.is_empty());
    }

    #[test]
    fn refuses_what_paas_cannot_build_with_what_to_do() {
        let two = HerokuYml::parse(
            "build:\n  docker:\n    web: Dockerfile\n    worker: worker/Dockerfile\n",
        )
        .unwrap_err();
        assert!(two.0.contains("one image per app"), "{two}");
        let outside = HerokuYml::parse("build:\n  docker:\n    web: ../Dockerfile\n").unwrap_err();
        assert!(outside.0.contains("inside the repository"), "{outside}");
        let none = HerokuYml::parse("run:\n  web: x\n").unwrap_err();
        assert!(none.0.contains("build: docker: web: Dockerfile"), "{none}");
        assert!(HerokuYml::parse("build: [").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(raw in "\\PC{0,200}") {
            let _ = HerokuYml::parse(&raw);
        }
    }
}
