//! app.json's `env`, as Heroku and Dokku read it: which config vars a deploy sets. On an
//! app's first deploy a variable not set yet takes its `value`, or a generated secret, or,
//! when `required` (the default) and neither is given, refuses the deploy with its
//! description; `sync: true` sets its value on every deploy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigKey, ConfigVars, Invalid};

/// One variable: `"NAME": "value"` or `"NAME": {"description", "value", "required",
/// "generator", "sync"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvEntry {
    Value(String),
    Spec(EnvSpec),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Heroku's default is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Only `"secret"`: 64 random hex characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Dokku's: the value is set on every deploy, over what is there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync: bool,
}

impl EnvEntry {
    fn spec(&self) -> EnvSpec {
        match self {
            EnvEntry::Value(value) => EnvSpec {
                value: Some(value.clone()),
                ..EnvSpec::default()
            },
            EnvEntry::Spec(spec) => spec.clone(),
        }
    }
}

/// The generator Heroku and Dokku know.
const SECRET_GENERATOR: &str = "secret";

/// Checks names and generators, so a bad entry refuses the push before anything is built.
pub fn validate(env: &BTreeMap<String, EnvEntry>) -> Result<(), Invalid> {
    for (name, entry) in env {
        ConfigKey::parse(name).map_err(|e| Invalid::new(format!("app.json env: {e}")))?;
        if let Some(generator) = entry.spec().generator
            && generator != SECRET_GENERATOR
        {
            return Err(Invalid::new(format!(
                "app.json env {name}: generator \"{generator}\" is unknown; the only generator is \"secret\" (64 random hex characters)"
            )));
        }
    }
    Ok(())
}

/// What a deploy sets from app.json's `env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvPlan {
    /// The variables to set, with their values.
    pub set: ConfigVars,
    /// The names among them whose value was generated (never to be shown).
    pub generated: Vec<String>,
}

impl EnvPlan {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// The variables to set over `current` (the config the build and release will see); on a
/// first deploy every unset variable, later only `sync` ones. `secret` makes one value.
pub fn plan(
    env: &BTreeMap<String, EnvEntry>,
    current: &ConfigVars,
    first_deploy: bool,
    mut secret: impl FnMut() -> String,
) -> Result<EnvPlan, Invalid> {
    let mut out = EnvPlan::default();
    let mut missing = Vec::new();
    for (name, entry) in env {
        let spec = entry.spec();
        if spec.sync
            && let Some(value) = &spec.value
        {
            if current.get(name) != Some(value) {
                out.set.insert(name.clone(), value.clone());
            }
            continue;
        }
        if !first_deploy || current.contains_key(name) {
            continue;
        }
        if let Some(value) = spec.value {
            out.set.insert(name.clone(), value);
        } else if spec.generator.as_deref() == Some(SECRET_GENERATOR) {
            out.set.insert(name.clone(), secret());
            out.generated.push(name.clone());
        } else if spec.required.unwrap_or(true) {
            missing.push((name.as_str(), spec.description));
        }
    }
    if !missing.is_empty() {
        let described: Vec<String> = missing
            .iter()
            .map(|(name, description)| match description {
                Some(d) => format!("{name} ({d})"),
                None => (*name).to_owned(),
            })
            .collect();
        let example: Vec<String> = missing.iter().map(|(n, _)| format!("{n}=...")).collect();
        return Err(Invalid::new(format!(
            "app.json env requires {}: set them with paas config:set {} and push again",
            described.join(", "),
            example.join(" ")
        )));
    }
    Ok(out)
}

/// What `environments.review.env` sets on a new review app, over its parent's config:
/// every entry with a value or a generator; the others are left to the first deploy's
/// plan of `env`.
pub fn review_overrides(
    env: &BTreeMap<String, EnvEntry>,
    mut secret: impl FnMut() -> String,
) -> EnvPlan {
    let mut out = EnvPlan::default();
    for (name, entry) in env {
        let spec = entry.spec();
        if let Some(value) = spec.value {
            out.set.insert(name.clone(), value);
        } else if spec.generator.as_deref() == Some(SECRET_GENERATOR) {
            out.set.insert(name.clone(), secret());
            out.generated.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(json: &str) -> BTreeMap<String, EnvEntry> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_first_deploy_takes_values_generates_secrets_and_keeps_what_is_set() {
        let env = env(
            r#"{"SIMPLE":"a","WEB_CONCURRENCY":{"value":"5"},"SECRET_KEY":{"generator":"secret"},
                "OPTIONAL":{"required":false},"SET_ALREADY":{"value":"default"}}"#,
        );
        let current = ConfigVars::from([("SET_ALREADY".to_owned(), "mine".to_owned())]);
        let plan = plan(&env, &current, true, || "f".repeat(64)).unwrap();
        assert_eq!(plan.set.get("SIMPLE").map(String::as_str), Some("a"));
        assert_eq!(
            plan.set.get("WEB_CONCURRENCY").map(String::as_str),
            Some("5")
        );
        assert_eq!(plan.set["SECRET_KEY"].len(), 64);
        assert_eq!(plan.generated, vec!["SECRET_KEY".to_owned()]);
        assert!(!plan.set.contains_key("OPTIONAL"));
        assert!(!plan.set.contains_key("SET_ALREADY"), "a set value stays");
    }

    #[test]
    fn a_required_variable_without_a_value_refuses_the_first_deploy_with_its_description() {
        let env = env(
            r#"{"API_KEY":{"description":"the payment provider's key"},"OTHER":{"required":true}}"#,
        );
        let err = plan(&env, &ConfigVars::new(), true, String::new).unwrap_err();
        assert!(
            err.0.contains("API_KEY (the payment provider's key)"),
            "{err}"
        );
        assert!(err.0.contains("OTHER"), "{err}");
        assert!(
            err.0.contains("paas config:set API_KEY=... OTHER=..."),
            "{err}"
        );
        let set = ConfigVars::from([
            ("API_KEY".to_owned(), "k".to_owned()),
            ("OTHER".to_owned(), "o".to_owned()),
        ]);
        assert!(plan(&env, &set, true, String::new).unwrap().is_empty());
    }

    #[test]
    fn later_deploys_set_only_sync_variables() {
        let env = env(
            r#"{"NEW":{"value":"x"},"SECRET":{"generator":"secret"},"REQ":{},
                "SYNCED":{"value":"v2","sync":true}}"#,
        );
        let current = ConfigVars::from([("SYNCED".to_owned(), "v1".to_owned())]);
        let plan = plan(&env, &current, false, || unreachable!()).unwrap();
        assert_eq!(
            plan.set,
            ConfigVars::from([("SYNCED".to_owned(), "v2".to_owned())])
        );
    }

    #[test]
    fn names_and_generators_are_checked() {
        assert!(validate(&env(r#"{"GOOD":"x"}"#)).is_ok());
        assert!(validate(&env(r#"{"1BAD":"x"}"#)).is_err());
        assert!(validate(&env(r#"{"PORT":"x"}"#)).is_err());
        let err = validate(&env(r#"{"K":{"generator":"echo 5"}}"#)).unwrap_err();
        assert!(err.0.contains("\"secret\""), "{err}");
    }

    #[test]
    fn review_overrides_set_values_and_generated_secrets_and_leave_the_rest() {
        let env: BTreeMap<String, EnvEntry> = serde_json::from_str(
            r#"{"MODE":"review","KEY":{"generator":"secret"},"ASK":{"description":"x"}}"#,
        )
        .unwrap();
        let plan = review_overrides(&env, || "s3cret".to_owned());
        assert_eq!(plan.set.get("MODE").map(String::as_str), Some("review"));
        assert_eq!(plan.set.get("KEY").map(String::as_str), Some("s3cret"));
        assert!(!plan.set.contains_key("ASK"));
        assert_eq!(plan.generated, vec!["KEY".to_owned()]);
    }
}
