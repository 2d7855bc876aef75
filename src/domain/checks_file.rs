//! Dokku's older `CHECKS` file, read as app.json's checks of the web process.

use super::app_json::{AppJson, DokkuCheck, Healthchecks, HttpHeader};
use super::checks::{ChecksError, MAX_ATTEMPTS, MAX_SECONDS, MAX_TIMEOUT, valid_path};

/// The file's own defaults (Dokku's): WAIT=5, TIMEOUT=30, ATTEMPTS=5.
const FILE_WAIT: i64 = 5;
const FILE_TIMEOUT: i64 = 30;
const FILE_ATTEMPTS: i64 = 5;

/// Dokku's `CHECKS` file as app.json checks of the web process: `WAIT=`, `TIMEOUT=`,
/// `ATTEMPTS=` settings (for every check in the file, wherever they stand), `#` comments,
/// and `TARGET [expected content]` lines, a target being `/path`, `//host/path` or
/// `http://host/path` (the host is sent as `Host`). As Dokku does, `WAIT` is waited
/// before every attempt, the first one too.
pub fn checks_file(text: &str) -> Result<Vec<DokkuCheck>, ChecksError> {
    let (mut wait, mut timeout, mut attempts) = (FILE_WAIT, FILE_TIMEOUT, FILE_ATTEMPTS);
    let mut checks = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fail = |problem: String| ChecksError::File {
            line: number + 1,
            problem,
        };
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some((key, value)) = line.split_once('=').filter(|(k, _)| is_setting(k)) {
            let (slot, max) = match key {
                "WAIT" => (&mut wait, MAX_SECONDS),
                "TIMEOUT" => (&mut timeout, MAX_TIMEOUT),
                "ATTEMPTS" => (&mut attempts, MAX_ATTEMPTS),
                other => {
                    return Err(fail(format!(
                        "{other} is not a setting (WAIT, TIMEOUT and ATTEMPTS are)"
                    )));
                }
            };
            *slot = value
                .trim()
                .parse()
                .ok()
                .filter(|v| (1..=max).contains(v))
                .ok_or_else(|| fail(format!("{key} must be a number from 1 to {max}")))?;
            continue;
        }
        let (target, content) = match line.split_once(char::is_whitespace) {
            Some((target, content)) => (target, Some(content.trim().to_owned())),
            None => (line, None),
        };
        let (host, path) = split_target(target).map_err(fail)?;
        valid_path(&path).map_err(fail)?;
        checks.push(DokkuCheck {
            path: Some(path),
            content,
            http_headers: host
                .map(|value| HttpHeader {
                    name: "Host".into(),
                    value,
                })
                .into_iter()
                .collect(),
            ..DokkuCheck::default()
        });
    }
    for check in &mut checks {
        check.attempts = Some(attempts);
        check.timeout = Some(timeout);
        check.wait = Some(wait);
        check.initial_delay = Some(wait);
    }
    Ok(checks)
}

fn is_setting(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// `/path` -> (None, /path); `//host/path` and `http://host/path` -> (host, /path).
fn split_target(target: &str) -> Result<(Option<String>, String), String> {
    let rest = if let Some(rest) = target.strip_prefix("http://") {
        rest
    } else if target.starts_with("https://") {
        return Err(
            "https checks are not supported: processes serve plain HTTP on $PORT and the \
             router terminates TLS; write the path (or //host/path) instead"
                .into(),
        );
    } else if let Some(rest) = target.strip_prefix("//") {
        rest
    } else if target.starts_with('/') {
        return Ok((None, target.to_owned()));
    } else {
        return Err(format!(
            "\"{target}\" is not a check: write a path (/about), //host/path or \
             http://host/path, then optionally the content expected"
        ));
    };
    let (host, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if host.is_empty() {
        return Err(format!("\"{target}\" names no host"));
    }
    Ok((Some(host.to_owned()), path))
}

/// Fills in the web checks from a `CHECKS` file when app.json lists none for web, so the
/// build's stored app.json carries them.
pub fn apply_checks_file(app_json: &mut AppJson, text: &str) -> Result<(), ChecksError> {
    if app_json.healthchecks.contains_key("web") {
        return Ok(());
    }
    let checks = checks_file(text)?;
    if !checks.is_empty() {
        app_json
            .healthchecks
            .insert("web".into(), Healthchecks::Dokku(checks));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::domain::{Checks, Startup};

    #[test]
    fn a_checks_file_becomes_web_startup_checks_with_its_settings() {
        let checks = checks_file(
            "# comment\nWAIT=2  # wait a bit\nTIMEOUT=10\n\n/  My Amazing App\n\
             /health\nATTEMPTS=4\n//admin.example.com/login  Admin Dashboard\n\
             http://static.example.com\n",
        )
        .unwrap();
        assert_eq!(checks.len(), 4);
        assert_eq!(checks[0].path.as_deref(), Some("/"));
        assert_eq!(checks[0].content.as_deref(), Some("My Amazing App"));
        assert_eq!(checks[1].content, None);
        assert_eq!(checks[2].path.as_deref(), Some("/login"));
        assert_eq!(checks[2].http_headers[0].value, "admin.example.com");
        assert_eq!(checks[3].path.as_deref(), Some("/"));
        assert_eq!(checks[3].http_headers[0].value, "static.example.com");
        for check in &checks {
            assert_eq!(
                (
                    check.attempts,
                    check.timeout,
                    check.wait,
                    check.initial_delay
                ),
                (Some(4), Some(10), Some(2), Some(2)),
                "settings apply to every check, wherever they stand"
            );
        }
        let defaults = checks_file("/\n").unwrap();
        assert_eq!(
            (defaults[0].attempts, defaults[0].timeout, defaults[0].wait),
            (Some(5), Some(30), Some(5))
        );
    }

    #[test]
    fn a_bad_checks_file_line_is_refused_by_number() {
        let cases = [
            (
                "/\nWAIT=soon\n",
                "CHECKS line 2: WAIT must be a number from 1 to 3600",
            ),
            (
                "ATTEMPTS=0\n",
                "CHECKS line 1: ATTEMPTS must be a number from 1 to 100",
            ),
            ("RETRIES=3\n", "CHECKS line 1: RETRIES is not a setting"),
            ("about us\n", "CHECKS line 1: \"about\" is not a check"),
            (
                "https://x.example.com/\n",
                "CHECKS line 1: https checks are not supported",
            ),
            ("///\n", "CHECKS line 1: \"///\" names no host"),
        ];
        for (text, problem) in cases {
            let err = checks_file(text).unwrap_err().to_string();
            assert!(err.starts_with(problem), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_checks_file_applies_only_when_app_json_has_no_web_checks() {
        let mut plain = AppJson::default();
        apply_checks_file(&mut plain, "/health ok\n").unwrap();
        let resolved = Checks::resolve(&plain).unwrap().of("web");
        let Startup::Checks(startup) = resolved.startup else {
            panic!("the file's check gates the rollout")
        };
        assert_eq!(startup[0].initial_delay, Duration::from_secs(5));
        assert_eq!(startup[0].attempts, 5);

        let mut own = AppJson::parse(r#"{"healthchecks":{"web":{"path":"/up"}}}"#).unwrap();
        let before = own.clone();
        apply_checks_file(&mut own, "/health ok\n").unwrap();
        assert_eq!(own, before, "app.json's own web checks win");
        let mut empty = AppJson::default();
        apply_checks_file(&mut empty, "# nothing\nWAIT=3\n").unwrap();
        assert!(empty.healthchecks.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_checks_file_parses_or_names_its_line(text in "[ -~\n]{0,200}") {
            match checks_file(&text) {
                Ok(checks) => for check in checks {
                    proptest::prop_assert!(check.path.unwrap().starts_with('/'));
                },
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("CHECKS line ")),
            }
        }
    }
}
