//! `app.json`, the parts paas reads: formation defaults and add-ons for the first deploy,
//! the web health check path, and the postdeploy script.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppJson {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub formation: BTreeMap<String, FormationDefault>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub healthchecks: BTreeMap<String, HealthcheckSpec>,
    #[serde(default, skip_serializing_if = "Scripts::is_empty")]
    pub scripts: Scripts,
    /// Heroku's shapes: `"heroku-postgresql"` or `{"plan": "heroku-redis:mini", "as": "CACHE"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<AddonEntry>,
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
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthcheckSpec {
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scripts {
    #[serde(default)]
    pub postdeploy: Option<String>,
}

impl Scripts {
    fn is_empty(&self) -> bool {
        self.postdeploy.is_none()
    }
}

impl AppJson {
    /// Unknown keys are ignored, as Heroku does; malformed JSON is an error to show.
    pub fn parse(text: &str) -> Result<AppJson, String> {
        serde_json::from_str(text).map_err(|e| format!("app.json is not valid: {e}"))
    }

    /// The HTTP path the web process must answer 2xx/3xx on, if app.json names one.
    pub fn web_health_path(&self) -> Option<&str> {
        self.healthchecks
            .get("web")
            .and_then(|h| h.path.as_deref())
            .filter(|p| p.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
