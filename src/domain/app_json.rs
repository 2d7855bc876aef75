//! `app.json`, the parts paas reads (Heroku's schema and Dokku's extensions): formation
//! and add-ons for the first deploy, `env` (and `environments.review.env` for review
//! apps), buildpacks, health checks, the deploy scripts and Dokku's cron jobs. Unknown keys are ignored, as Heroku does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::app_env::{self, EnvEntry};
use super::relaxed_json::relaxed_json;
use super::{CronJob, Invalid, ProcessType, formation};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppJson {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub formation: BTreeMap<String, FormationDefault>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub healthchecks: BTreeMap<String, Healthchecks>,
    #[serde(default, skip_serializing_if = "Scripts::is_empty")]
    pub scripts: Scripts,
    /// Heroku's shapes: `"heroku-postgresql"` or `{"plan": "heroku-redis:mini", "as": "CACHE"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<AddonEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvEntry>,
    /// `[{"url": "heroku/python"}, ...]`, in order, like `.buildpacks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buildpacks: Vec<BuildpackEntry>,
    /// Heroku's stack name: paas builds on its own stack, so it is only noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Dokku's `[{"command": "...", "schedule": "*/5 * * * *"}]`; see `cron_jobs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cron: Vec<CronEntry>,
    /// Heroku's per-environment overrides; paas reads `review` (for review apps).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Environment>,
}

/// One of `environments`: its `env` entries (plain strings or the shapes of `env`) replace
/// the app's config when a review app is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildpackEntry {
    pub url: String,
}

/// Why an app.json was refused; the message names the line and column, or the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppJsonError {
    #[error("app.json is not valid: {0}")]
    Syntax(String),
    #[error("{0}")]
    Field(#[from] Invalid),
}

/// One entry of `cron` as written. Dokku's `concurrency_policy` is ignored: a job never
/// runs twice at once here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronEntry {
    pub command: String,
    pub schedule: String,
    /// Dokku's `"maintenance": true`: the job is listed but does not run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maintenance: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AddonEntry {
    Plan(String),
    Detailed {
        plan: String,
        #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
        attach_as: Option<String>,
    },
}

impl AddonEntry {
    /// The plan (`postgres`, `heroku-postgresql:mini`) and the name to attach it as.
    pub fn parts(&self) -> (&str, Option<&str>) {
        match self {
            AddonEntry::Plan(plan) => (plan, None),
            AddonEntry::Detailed { plan, attach_as } => (plan, attach_as.as_deref()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormationDefault {
    #[serde(default)]
    pub quantity: Option<u32>,
    /// A Heroku dyno size (`basic`, `standard-2x`...) or a memory size (`1G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthcheckSpec {
    #[serde(default)]
    pub path: Option<String>,
}

/// A process type's checks: paas's own `{"path": ...}`, or Dokku's list of checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Healthchecks {
    Single(HealthcheckSpec),
    Dokku(Vec<DokkuCheck>),
}

/// One of Dokku's checks, as written: every field Dokku documents, read as given and
/// validated into a policy by `domain::checks` (which also says what the defaults are).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DokkuCheck {
    /// `startup` (the default), `liveness` or `readiness`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, alias = "headers", skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<serde_json::Value>,
}

/// A header a check sends: `{"name": "X-Forwarded-Proto", "value": "https"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHeader {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scripts {
    /// Heroku's: once, after the app's first deploy.
    #[serde(default)]
    pub postdeploy: Option<String>,
    /// Heroku's, for review apps: a one-off of the review app before it is destroyed.
    #[serde(
        default,
        rename = "pr-predestroy",
        skip_serializing_if = "Option::is_none"
    )]
    pub pr_predestroy: Option<String>,
    #[serde(default, skip_serializing_if = "DokkuScripts::is_empty")]
    pub dokku: DokkuScripts,
}

/// Dokku's deploy scripts: `predeploy` in the new release before its release phase (what
/// it writes is not kept in the image), `postdeploy` after every deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DokkuScripts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predeploy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postdeploy: Option<String>,
}

impl DokkuScripts {
    fn is_empty(&self) -> bool {
        self.predeploy.is_none() && self.postdeploy.is_none()
    }
}

impl Scripts {
    fn is_empty(&self) -> bool {
        self.postdeploy.is_none() && self.pr_predestroy.is_none() && self.dokku.is_empty()
    }
}

impl AppJson {
    /// Unknown keys are ignored, as Heroku does; `//` and `/* */` comments and trailing
    /// commas are accepted, as Dokku does; malformed JSON is an error naming its line and
    /// column.
    pub fn parse(text: &str) -> Result<AppJson, AppJsonError> {
        let parsed: AppJson = serde_json::from_str(&relaxed_json(text))
            .map_err(|e| AppJsonError::Syntax(e.to_string()))?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// What serde cannot check: process type names, sizes, env names and generators.
    fn validate(&self) -> Result<(), Invalid> {
        for (name, default) in &self.formation {
            ProcessType::parse(name)
                .map_err(|e| Invalid::new(format!("app.json formation: {e}")))?;
            if let Some(size) = &default.size {
                formation::size_memory_mb(size)
                    .map_err(|e| Invalid::new(format!("app.json formation.{name}.size: {e}")))?;
            }
        }
        app_env::validate(&self.env)?;
        if let Some(review) = self.environments.get("review") {
            app_env::validate(&review.env).map_err(|e| {
                Invalid::new(e.0.replacen("app.json env", "app.json environments.review.env", 1))
            })?;
        }
        self.cron_jobs()?;
        if let Some(index) = self.buildpacks.iter().position(|b| b.url.trim().is_empty()) {
            return Err(Invalid::new(format!(
                "app.json buildpacks[{index}]: the url is empty; give each a url like heroku/python"
            )));
        }
        Ok(())
    }

    /// The memory limit (MiB) of each process type app.json gives a size.
    pub fn formation_memory(&self) -> BTreeMap<String, u32> {
        self.formation
            .iter()
            .filter_map(|(t, d)| {
                let mb = formation::size_memory_mb(d.size.as_deref()?).ok()?;
                Some((t.clone(), mb))
            })
            .collect()
    }

    /// The config vars this deploy sets from `env` over `current` (see `app_env::plan`).
    pub fn env_plan(
        &self,
        current: &super::ConfigVars,
        first_deploy: bool,
        secret: impl FnMut() -> String,
    ) -> Result<app_env::EnvPlan, Invalid> {
        app_env::plan(&self.env, current, first_deploy, secret)
    }

    /// `environments.review.env`: what a new review app sets over its parent's config.
    pub fn review_env(&self) -> Option<&BTreeMap<String, EnvEntry>> {
        self.environments.get("review").map(|e| &e.env)
    }

    /// The buildpacks app.json lists, in order.
    pub fn buildpack_urls(&self) -> Vec<String> {
        self.buildpacks
            .iter()
            .map(|b| b.url.trim().to_owned())
            .collect()
    }
}

impl AppJson {
    /// The cron jobs, checked: a bad schedule, an empty command or a job given twice is
    /// an error naming the entry (`app.json cron[2]: schedule "61 * * * *": minute must
    /// be 0-59`).
    pub fn cron_jobs(&self) -> Result<Vec<CronJob>, Invalid> {
        let mut jobs: Vec<CronJob> = Vec::with_capacity(self.cron.len());
        for (index, entry) in self.cron.iter().enumerate() {
            let mut job = CronJob::new(index, &entry.command, &entry.schedule)?;
            job.suspended = entry.maintenance;
            if let Some(first) = jobs.iter().position(|j| j.id == job.id) {
                return Err(Invalid::new(format!(
                    "app.json cron[{index}]: the same command and schedule as cron[{first}]; remove one"
                )));
            }
            jobs.push(job);
        }
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl AppJson {
        /// What was read of the web check's path: paas's `healthchecks.web.path`, or the
        /// first of Dokku's `startup` checks with a path (`domain::checks` resolves them).
        fn web_health_path(&self) -> Option<&str> {
            match self.healthchecks.get("web")? {
                Healthchecks::Single(spec) => spec.path.as_deref(),
                Healthchecks::Dokku(checks) => checks
                    .iter()
                    .filter(|c| c.kind.as_deref().is_none_or(|k| k == "startup"))
                    .find_map(|c| c.path.as_deref()),
            }
        }
    }

    #[test]
    fn reads_formation_healthcheck_and_postdeploy_and_ignores_the_rest() {
        let parsed = AppJson::parse(
            r#"{"name":"x","formation":{"web":{"quantity":2,"size":"basic"}},
                "healthchecks":{"web":{"path":"/healthz"}},
                "scripts":{"postdeploy":"python seed.py"},"env":{"A":{}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.formation["web"].quantity, Some(2));
        assert_eq!(parsed.web_health_path(), Some("/healthz"));
        assert_eq!(parsed.scripts.postdeploy.as_deref(), Some("python seed.py"));
        assert!(AppJson::parse("{").is_err());
    }

    #[test]
    fn reads_dokkus_healthchecks_and_keeps_paas_own_form() {
        let dokku = AppJson::parse(
            r#"{"healthchecks":{"web":[
                {"type":"liveness","path":"/alive"},
                {"type":"startup","name":"web check","path":"/ready","content":"ok",
                 "attempts":3,"timeout":5,"wait":2,"initialDelay":1,"port":5000}]}}"#,
        )
        .unwrap();
        assert_eq!(dokku.web_health_path(), Some("/ready"));
        let own = AppJson::parse(r#"{"healthchecks":{"web":{"path":"/healthz"}}}"#).unwrap();
        assert_eq!(own.web_health_path(), Some("/healthz"));
        let untyped = AppJson::parse(r#"{"healthchecks":{"web":[{"path":"/up"}]}}"#).unwrap();
        assert_eq!(untyped.web_health_path(), Some("/up"));
    }

    #[test]
    fn comments_and_trailing_commas_are_read_as_dokku_reads_them() {
        let parsed = AppJson::parse(
            "{\n  // the web check\n  \"healthchecks\": {\"web\": {\"path\": \"/a//b\",}}, /* note */\n  \"scripts\": {\"postdeploy\": \"echo '/* x */', done\"},\n}\n",
        )
        .unwrap();
        assert_eq!(
            parsed.web_health_path(),
            Some("/a//b"),
            "slashes in strings stay"
        );
        assert_eq!(
            parsed.scripts.postdeploy.as_deref(),
            Some("echo '/* x */', done")
        );
        let broken =
            AppJson::parse("{\n  // fine\n  \"formation\": {\n    \"web\": }\n}").unwrap_err();
        assert!(broken.to_string().contains("line 4 column"), "{broken}");
    }

    #[test]
    fn reads_env_buildpacks_sizes_and_dokkus_scripts_and_refuses_bad_values() {
        let parsed = AppJson::parse(
            r#"{"env":{"A":"x","B":{"generator":"secret"}},
                "buildpacks":[{"url":" heroku/python "}],
                "formation":{"web":{"size":"standard-2x"},"worker":{"quantity":1}},
                "scripts":{"dokku":{"predeploy":"make assets","postdeploy":"notify"},
                           "pr-predestroy":"cleanup"},
                "stack":"heroku-24"}"#,
        )
        .unwrap();
        assert_eq!(parsed.env.len(), 2);
        assert_eq!(parsed.buildpack_urls(), vec!["heroku/python".to_owned()]);
        assert_eq!(
            parsed.formation_memory(),
            BTreeMap::from([("web".to_owned(), 1024)])
        );
        assert_eq!(
            parsed.scripts.dokku.predeploy.as_deref(),
            Some("make assets")
        );
        assert_eq!(parsed.scripts.pr_predestroy.as_deref(), Some("cleanup"));
        assert_eq!(parsed.stack.as_deref(), Some("heroku-24"));
        for (bad, says) in [
            (
                r#"{"formation":{"web":{"size":"huge"}}}"#,
                "formation.web.size",
            ),
            (
                r#"{"formation":{"web server":{"quantity":1}}}"#,
                "formation",
            ),
            (r#"{"env":{"PAAS_X":"1"}}"#, "reserved"),
            (r#"{"buildpacks":[{"url":""}]}"#, "buildpacks[0]"),
        ] {
            let err = AppJson::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn reads_the_review_environments_env_in_both_shapes() {
        let parsed = AppJson::parse(
            r#"{"env":{"MODE":"production"},
                "environments":{"review":{"env":{"MODE":"review","KEY":{"generator":"secret"}},
                                          "addons":["heroku-postgresql"]},
                                "test":{"scripts":{"test":"make test"}}}}"#,
        )
        .unwrap();
        let review = parsed.review_env().unwrap();
        assert_eq!(review["MODE"], EnvEntry::Value("review".into()));
        assert!(
            matches!(&review["KEY"], EnvEntry::Spec(s) if s.generator.as_deref() == Some("secret"))
        );
        assert!(AppJson::parse("{}").unwrap().review_env().is_none());
        let bad = AppJson::parse(r#"{"environments":{"review":{"env":{"PAAS_X":"1"}}}}"#);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("environments.review.env"),
            "the refusal names where"
        );
    }

    #[test]
    fn reads_addons_in_both_of_herokus_shapes() {
        let parsed = AppJson::parse(
            r#"{"addons":["heroku-postgresql",{"plan":"heroku-redis:mini","as":"CACHE"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.addons[0].parts(), ("heroku-postgresql", None));
        assert_eq!(
            parsed.addons[1].parts(),
            ("heroku-redis:mini", Some("CACHE"))
        );
        assert!(AppJson::parse(r#"{"addons":[3]}"#).is_err());
    }

    #[test]
    fn reads_dokkus_cron_jobs_and_names_a_bad_one() {
        let parsed = AppJson::parse(
            r#"{"cron":[{"command":"python tick.py","schedule":"*/5 * * * *","concurrency_policy":"forbid"},
                        {"command":"python report.py","schedule":"@daily","maintenance":true}]}"#,
        )
        .unwrap();
        let jobs = parsed.cron_jobs().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].command, "python report.py");
        assert!(!jobs[0].suspended && jobs[1].suspended);
        // A bad job refuses the whole app.json, naming the entry.
        let bad = AppJson::parse(
            r#"{"cron":[{"command":"a","schedule":"@daily"},{"command":"b","schedule":"@hourly"},{"command":"c","schedule":"61 * * * *"}]}"#,
        );
        assert_eq!(
            bad.unwrap_err().to_string(),
            "app.json cron[2]: schedule \"61 * * * *\": minute must be 0-59"
        );
        let twice = AppJson::parse(
            r#"{"cron":[{"command":"a","schedule":"@daily"},{"command":"a","schedule":"@daily"}]}"#,
        );
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("cron[1]: the same command and schedule as cron[0]")
        );
        assert!(AppJson::parse(r#"{"cron":[{"schedule":"@daily"}]}"#).is_err());
    }
}
