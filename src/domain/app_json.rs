//! `app.json`, the parts paas reads: formation defaults and add-ons for the first deploy,
//! health checks (as written; `domain::checks` resolves them), and the postdeploy script.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    #[serde(default)]
    pub postdeploy: Option<String>,
}

impl Scripts {
    fn is_empty(&self) -> bool {
        self.postdeploy.is_none()
    }
}

impl AppJson {
    /// Unknown keys are ignored, as Heroku does; `//` and `/* */` comments and trailing
    /// commas are accepted, as Dokku does; malformed JSON is an error naming its line and
    /// column.
    pub fn parse(text: &str) -> Result<AppJson, String> {
        serde_json::from_str(&relaxed_json(text)).map_err(|e| format!("app.json is not valid: {e}"))
    }
}

/// JSON with comments and trailing commas made plain JSON: each comment and each trailing
/// comma becomes spaces (newlines kept), so an error still names the line and column of
/// the text as written.
fn relaxed_json(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (c, chars.get(i + 1)) {
            ('"', _) => {
                in_string = true;
                out.push(c);
                i += 1;
            }
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut end = i + 2;
                while end < chars.len() && !(chars[end] == '*' && chars.get(end + 1) == Some(&'/'))
                {
                    end += 1;
                }
                // An unclosed comment is left for the parser to refuse.
                if end >= chars.len() {
                    out.extend_from_slice(&chars[i..]);
                    break;
                }
                for &skipped in &chars[i..end + 2] {
                    out.push(if skipped == '\n' { '\n' } else { ' ' });
                }
                i = end + 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Trailing commas: a comma whose next non-space character closes an object or array.
    let mut in_string = false;
    let mut escaped = false;
    for index in 0..out.len() {
        let c = out[index];
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            ',' => {
                let next = out[index + 1..].iter().find(|n| !n.is_whitespace());
                if matches!(next, Some('}') | Some(']')) {
                    out[index] = ' ';
                }
            }
            _ => {}
        }
    }
    out.into_iter().collect()
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
        assert!(broken.contains("line 4 column"), "{broken}");
    }

    proptest::proptest! {
        #[test]
        fn relaxing_keeps_length_lines_and_plain_json(raw in ".{0,200}") {
            let relaxed = relaxed_json(&raw);
            proptest::prop_assert_eq!(relaxed.chars().count(), raw.chars().count());
            proptest::prop_assert_eq!(relaxed.matches('\n').count(), raw.matches('\n').count());
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&raw) {
                let again: serde_json::Value = serde_json::from_str(&relaxed).unwrap();
                proptest::prop_assert_eq!(value, again);
            }
        }
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
