//! What a build reads from the repository's manifests besides its code: app.json (with
//! Dokku's `DOKKU_SCALE` as its formation when it gives no quantities, Dokku's `CHECKS` as
//! its web checks when it lists none, and its buildpacks as `.buildpacks` when the
//! repository has no such file), and heroku.yml.

use crate::domain::{
    AppJson, Checks, FormationDefault, HerokuYml, ScaleRequest, apply_checks_file,
};

use super::BuildError;
use super::source::SourceInfo;

pub struct Manifests {
    pub app_json: AppJson,
    pub heroku: Option<HerokuYml>,
    /// What was read but is not acted on, to tell the pusher.
    pub notes: Vec<String>,
}

/// Reads and combines the manifests of `info`; app.json's buildpacks become its
/// `buildpacks_file` when the tree has none and no `BUILDPACK_URL` overrides them.
pub fn read(info: &mut SourceInfo, buildpack_url_set: bool) -> Result<Manifests, BuildError> {
    let mut app_json = match &info.app_json {
        Some(text) => AppJson::parse(text)?,
        None => AppJson::default(),
    };
    let mut notes = Vec::new();
    if let Some(text) = &info.dokku_scale {
        let scale = ScaleRequest::parse_scale_file(text)?;
        if app_json.formation.values().all(|f| f.quantity.is_none()) {
            for (process_type, quantity) in scale.0 {
                app_json
                    .formation
                    .entry(process_type.to_string())
                    .or_insert_with(FormationDefault::default)
                    .quantity = Some(quantity);
            }
        } else {
            notes.push("DOKKU_SCALE is ignored: app.json's formation gives the quantities".into());
        }
    }
    if let Some(text) = &info.checks_file {
        if app_json.healthchecks.contains_key("web") {
            notes.push("CHECKS is ignored: app.json's healthchecks give the web checks".into());
        }
        apply_checks_file(&mut app_json, text)?;
    }
    // Refused now, with the check named, rather than when a process starts.
    Checks::resolve(&app_json)?;
    let listed = app_json.buildpack_urls();
    if !listed.is_empty() {
        if buildpack_url_set || info.buildpacks_file.is_some() {
            notes.push(
                "app.json buildpacks are ignored: BUILDPACK_URL or .buildpacks chooses them".into(),
            );
        } else {
            info.buildpacks_file = Some(listed.join("\n"));
            info.buildpacks_from_app_json = true;
        }
    }
    if let Some(stack) = &app_json.stack {
        notes.push(format!(
            "app.json stack \"{stack}\" is ignored: paas builds on its own stack (Debian bookworm)"
        ));
    }
    let heroku = info
        .heroku_yml
        .as_deref()
        .map(HerokuYml::parse)
        .transpose()?;
    Ok(Manifests {
        app_json,
        heroku,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(app_json: &str) -> SourceInfo {
        SourceInfo {
            app_json: Some(app_json.to_owned()),
            ..SourceInfo::default()
        }
    }

    #[test]
    fn dokku_scale_is_the_formation_unless_app_json_gives_quantities() {
        let mut plain = info(r#"{"formation":{"web":{"size":"standard-2x"}}}"#);
        plain.dokku_scale = Some("web=2\nworker=1\n".into());
        let read = read(&mut plain, false).unwrap();
        assert_eq!(read.app_json.formation["web"].quantity, Some(2));
        assert_eq!(
            read.app_json.formation["web"].size.as_deref(),
            Some("standard-2x")
        );
        assert_eq!(read.app_json.formation["worker"].quantity, Some(1));

        let mut both = info(r#"{"formation":{"web":{"quantity":3}}}"#);
        both.dokku_scale = Some("web=2\n".into());
        let read = super::read(&mut both, false).unwrap();
        assert_eq!(read.app_json.formation["web"].quantity, Some(3));
        assert_eq!(read.notes.len(), 1);
    }

    #[test]
    fn a_checks_file_becomes_the_web_checks_unless_app_json_has_them() {
        let mut file = info("{}");
        file.checks_file = Some("WAIT=1\n/status ok\n".into());
        let read = read(&mut file, false).unwrap();
        assert!(read.app_json.healthchecks.contains_key("web"));
        assert!(read.notes.is_empty());

        let mut both = info(r#"{"healthchecks":{"web":{"path":"/up"}}}"#);
        both.checks_file = Some("/status ok\n".into());
        let read = super::read(&mut both, false).unwrap();
        assert!(
            read.notes[0].starts_with("CHECKS is ignored"),
            "{:?}",
            read.notes
        );

        let mut bad = info(r#"{"healthchecks":{"web":[{"path":"/","attempts":500}]}}"#);
        let err = super::read(&mut bad, false).err().unwrap().to_string();
        assert_eq!(
            err,
            "app.json healthchecks.web[0]: attempts must be 1 to 100"
        );
    }

    #[test]
    fn app_json_buildpacks_become_the_buildpacks_file_only_when_nothing_else_chooses() {
        let json = r#"{"buildpacks":[{"url":"heroku/nodejs"},{"url":"heroku/python"}],"stack":"heroku-22"}"#;
        let mut none = info(json);
        let read = read(&mut none, false).unwrap();
        assert_eq!(
            none.buildpacks_file.as_deref(),
            Some("heroku/nodejs\nheroku/python")
        );
        assert!(none.buildpacks_from_app_json);
        assert!(read.notes[0].contains("heroku-22"), "{:?}", read.notes);

        let mut file = info(json);
        file.buildpacks_file = Some("heroku/go\n".into());
        super::read(&mut file, false).unwrap();
        assert_eq!(file.buildpacks_file.as_deref(), Some("heroku/go\n"));
        assert!(!file.buildpacks_from_app_json);

        let mut url = info(json);
        super::read(&mut url, true).unwrap();
        assert!(url.buildpacks_file.is_none());
    }
}
