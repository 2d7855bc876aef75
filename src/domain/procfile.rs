//! Procfile parsing: `type: command` lines, as Heroku reads them: blank lines and `#`
//! comment lines skipped, a `# ...` after a command left to the shell, a byte-order mark
//! and CRLF line ends read, a type given twice taking its last command.

use std::collections::BTreeMap;

use super::ProcessType;

/// Process types in file order is not kept: Heroku shows them sorted too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Procfile(pub BTreeMap<ProcessType, String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcfileError {
    #[error("Procfile line {line}: expected \"type: command\", found \"{text}\"")]
    Malformed { line: usize, text: String },
    #[error("Procfile line {line}: {reason}")]
    BadType { line: usize, reason: String },
    #[error("Procfile line {line}: process type \"{name}\" has no command")]
    EmptyCommand { line: usize, name: String },
}

impl Procfile {
    pub fn parse(text: &str) -> Result<Self, ProcfileError> {
        let mut types = BTreeMap::new();
        for (index, raw) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((name, command)) = trimmed.split_once(':') else {
                return Err(ProcfileError::Malformed {
                    line,
                    text: trimmed.to_owned(),
                });
            };
            let name = ProcessType::parse(name.trim())
                .map_err(|e| ProcfileError::BadType { line, reason: e.0 })?;
            let command = command.trim();
            if command.is_empty() {
                return Err(ProcfileError::EmptyCommand {
                    line,
                    name: name.to_string(),
                });
            }
            types.insert(name, command.to_owned());
        }
        Ok(Procfile(types))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_types_and_commands_and_skips_comments() {
        let p = Procfile::parse(
            "# comment\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:python w.py\nrelease: python manage.py migrate\n",
        )
        .unwrap();
        assert_eq!(p.0.len(), 3);
        assert_eq!(
            p.0.get(&ProcessType::web()).map(String::as_str),
            Some("gunicorn app:app --bind 0.0.0.0:$PORT")
        );
    }

    #[test]
    fn reads_a_procfile_written_for_heroku() {
        let p = Procfile::parse(
            "\u{feff}# processes\r\n\r\nweb: gunicorn app:app # the server\r\n  # indented comment\nurgentWorker: python w.py\nworker: old\nworker: new\n",
        )
        .unwrap();
        assert_eq!(
            p.0.get(&ProcessType::web()).map(String::as_str),
            Some("gunicorn app:app # the server"),
            "an inline comment is the shell's"
        );
        assert_eq!(p.0.len(), 3);
        assert_eq!(
            p.0.get(&ProcessType::parse("worker").unwrap())
                .map(String::as_str),
            Some("new")
        );
        assert!(p.0.contains_key(&ProcessType::parse("urgentWorker").unwrap()));
    }

    #[test]
    fn commands_keep_their_own_colons() {
        let p = Procfile::parse("web: sh -c 'echo a:b'").unwrap();
        assert_eq!(
            p.0.get(&ProcessType::web()).map(String::as_str),
            Some("sh -c 'echo a:b'")
        );
    }

    #[test]
    fn reports_the_line_of_a_bad_entry() {
        assert_eq!(
            Procfile::parse("web: ok\nnot a process line").unwrap_err(),
            ProcfileError::Malformed {
                line: 2,
                text: "not a process line".into()
            }
        );
        assert!(matches!(
            Procfile::parse("Web Server: x").unwrap_err(),
            ProcfileError::BadType { line: 1, .. }
        ));
        assert!(matches!(
            Procfile::parse("web:   ").unwrap_err(),
            ProcfileError::EmptyCommand { line: 1, .. }
        ));
    }
}
