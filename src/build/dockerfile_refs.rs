//! What a Dockerfile builds on: every image its `FROM`, `COPY --from` and `RUN --mount
//! from=` name (also inside `ONBUILD`), read as Docker's parser reads the file (parser
//! directives, line continuations, comments, stages), with global `ARG` defaults resolved,
//! so a build can check them before the engine sees the file. Pure; never panics.
//!
//! Where a reading is ambiguous this errs towards finding more: quotes are stripped from
//! names, a file that may set `# escape=`` ` is read both ways, an `ONBUILD COPY --from`
//! counts as an image (its stages are not ours), and a name with a build argument that
//! no `ARG NAME=default` before the first `FROM` resolves is `Unresolved`.

use std::collections::{BTreeMap, HashMap};

/// Where an image is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instruction {
    From,
    CopyFrom,
    MountFrom,
}

impl std::fmt::Display for Instruction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Instruction::From => "FROM",
            Instruction::CopyFrom => "COPY --from",
            Instruction::MountFrom => "RUN --mount from",
        })
    }
}

/// An image the Dockerfile names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub instruction: Instruction,
    /// The name with build arguments resolved; as written when `resolved` is false.
    pub name: String,
    /// False when the name uses a build argument no default resolves (or an expansion
    /// this reader does not model): it cannot be checked.
    pub resolved: bool,
}

/// Every image `dockerfile` names when built with `build_args`, earlier stages and
/// `scratch` left out, each once.
pub fn image_refs(dockerfile: &str, build_args: &BTreeMap<String, String>) -> Vec<ImageRef> {
    let mut refs = scan(dockerfile, '\\', build_args);
    if sets_backtick_escape(dockerfile) {
        for r in scan(dockerfile, '`', build_args) {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
    }
    refs
}

/// True if a leading comment line could be `# escape=``.
fn sets_backtick_escape(dockerfile: &str) -> bool {
    dockerfile
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .take_while(|l| l.starts_with('#'))
        .any(|l| {
            let compact: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            compact.to_ascii_lowercase().starts_with("#escape=`")
        })
}

/// The logical lines (continuations joined, comments and blank lines gone) with `escape`.
fn logical_lines(dockerfile: &str, escape: char) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for raw in dockerfile.trim_start_matches('\u{feff}').lines() {
        let line = raw.trim_end_matches('\r').trim_start();
        if line.starts_with('#') || (line.trim().is_empty() && current.is_some()) {
            continue;
        }
        let trimmed = line.trim_end();
        let (body, continues) = match trimmed.strip_suffix(escape) {
            Some(body) => (body, true),
            None => (line, false),
        };
        let joined = current.get_or_insert_with(String::new);
        joined.push_str(body);
        if !continues {
            lines.extend(current.take().filter(|l| !l.trim().is_empty()));
        }
    }
    lines.extend(current.filter(|l| !l.trim().is_empty()));
    lines
}

/// Words split at whitespace outside quotes, quote characters removed.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quote, mut in_word) = (None, false);
    for c in text.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The parse state of one reading of the file.
#[derive(Default)]
struct Scan {
    /// Global ARGs (before the first FROM): their default, None when it is not known.
    args: HashMap<String, Option<String>>,
    /// Names of the stages so far, lowercased.
    stages: Vec<String>,
    stage_count: usize,
    refs: Vec<ImageRef>,
}

fn scan(dockerfile: &str, escape: char, build_args: &BTreeMap<String, String>) -> Vec<ImageRef> {
    let mut state = Scan::default();
    for line in logical_lines(dockerfile, escape) {
        let mut parts = words(&line).into_iter();
        let Some(first) = parts.next() else { continue };
        let mut keyword = first.to_ascii_uppercase();
        let mut args: Vec<String> = parts.collect();
        let onbuild = keyword == "ONBUILD";
        if onbuild {
            if args.is_empty() {
                continue;
            }
            keyword = args.remove(0).to_ascii_uppercase();
        }
        match keyword.as_str() {
            "ARG" if state.stage_count == 0 && !onbuild => state.global_args(&args, build_args),
            "FROM" => state.from(&args),
            "COPY" | "ADD" => state.flags(&args, onbuild, "--from=", Instruction::CopyFrom),
            "RUN" => state.flags(&args, onbuild, "--mount=", Instruction::MountFrom),
            _ => {}
        }
    }
    state.refs
}

impl Scan {
    /// A build argument given to the build wins over the ARG's default, as in Docker.
    fn global_args(&mut self, args: &[String], given: &BTreeMap<String, String>) {
        for arg in args {
            let (name, default) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (arg.as_str(), None),
            };
            let value = given.get(name).map(String::as_str).or(default);
            let value = value.filter(|v| !v.contains('$')).map(str::to_owned);
            self.args.insert(name.to_owned(), value);
        }
    }

    fn from(&mut self, args: &[String]) {
        let mut rest = args.iter().filter(|w| !w.starts_with("--"));
        let Some(written) = rest.next() else { return };
        let resolved = expand(written, &self.args);
        let name = resolved.clone().unwrap_or_else(|| written.clone());
        let lower = name.to_ascii_lowercase();
        if resolved.is_none() || (lower != "scratch" && !self.stages.contains(&lower)) {
            self.push(Instruction::From, name, resolved.is_some());
        }
        if let (Some(as_kw), Some(stage)) = (rest.next(), rest.next())
            && as_kw.eq_ignore_ascii_case("as")
        {
            self.stages.push(stage.to_ascii_lowercase());
        }
        self.stage_count += 1;
    }

    /// `--from=X` of COPY, or `from=X` inside `--mount=...` of RUN: the leading flags only.
    fn flags(&mut self, args: &[String], onbuild: bool, flag: &str, what: Instruction) {
        for word in args.iter().take_while(|w| w.starts_with("--")) {
            let lower = word.to_ascii_lowercase();
            let Some(value) = lower.strip_prefix(flag).map(|_| &word[flag.len()..]) else {
                continue;
            };
            let named = match what {
                Instruction::MountFrom => value.split(',').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("from")
                        .then(|| v.trim().to_owned())
                }),
                _ => Some(value.to_owned()),
            };
            if let Some(named) = named {
                self.source(named, onbuild, what);
            }
        }
    }

    /// A stage (by name, or by index below the stages so far) or else an image.
    fn source(&mut self, named: String, onbuild: bool, what: Instruction) {
        if named.contains('$') {
            return self.push(what, named, false);
        }
        let lower = named.to_ascii_lowercase();
        let is_stage = !onbuild
            && (self.stages.contains(&lower)
                || named.parse::<usize>().is_ok_and(|i| i < self.stage_count));
        if !is_stage {
            self.push(what, named, true);
        }
    }

    fn push(&mut self, instruction: Instruction, name: String, resolved: bool) {
        // Docker's lexer would drop escapes from a name: such a name is not checkable.
        let resolved = resolved && !name.contains(['\\', '`']);
        let r = ImageRef {
            instruction,
            name,
            resolved,
        };
        if !self.refs.contains(&r) {
            self.refs.push(r);
        }
    }
}

/// `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}` from the global ARG defaults;
/// None if a name has no known default or the syntax is another.
fn expand(word: &str, args: &HashMap<String, Option<String>>) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}')?;
            out.push_str(&expand_braced(&inner[..end], args)?);
            rest = &inner[end + 1..];
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            if !is_name(name) {
                return None;
            }
            out.push_str(args.get(name)?.as_deref()?);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The inside of `${...}`. An ARG declared without a known default cannot be expanded;
/// one never declared is empty, as Docker has it.
fn expand_braced(expr: &str, args: &HashMap<String, Option<String>>) -> Option<String> {
    let (name, op, word) = if let Some((name, word)) = expr.split_once(":-") {
        (name, '-', word)
    } else if let Some((name, word)) = expr.split_once(":+") {
        (name, '+', word)
    } else {
        (expr, '=', "")
    };
    if !is_name(name) || word.contains('$') {
        return None;
    }
    let known = match args.get(name) {
        Some(Some(value)) => Some(value.as_str()),
        Some(None) => return None,
        None => None,
    };
    let set = known.is_some_and(|v| !v.is_empty());
    match op {
        '-' if set => known.map(str::to_owned),
        '-' => Some(word.to_owned()),
        '+' if set => Some(word.to_owned()),
        '+' => Some(String::new()),
        _ => known.map(str::to_owned),
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(dockerfile: &str) -> Vec<(Instruction, String, bool)> {
        image_refs(dockerfile, &BTreeMap::new())
            .into_iter()
            .map(|r| (r.instruction, r.name, r.resolved))
            .collect()
    }

    use Instruction::{CopyFrom, From, MountFrom};

    #[test]
    fn a_given_build_argument_wins_over_the_default_so_it_is_checked() {
        let file = "ARG BASE=paas/stack-run\nFROM $BASE\n";
        let given = BTreeMap::from([("BASE".to_owned(), "paas/other:b1".to_owned())]);
        let refs = image_refs(file, &given);
        assert_eq!(refs[0].name, "paas/other:b1");
        assert!(refs[0].resolved);
        let unresolved = image_refs(
            file,
            &BTreeMap::from([("BASE".to_owned(), "$X".to_owned())]),
        );
        assert!(!unresolved[0].resolved);
    }

    #[test]
    fn stages_scratch_and_flags_are_not_images() {
        let dockerfile = "FROM paas/stack-build:bookworm AS builder\nRUN make\n\
            FROM --platform=linux/amd64 builder AS again\nFROM scratch\n\
            from paas/stack-run:bookworm\nCOPY --from=builder /a /a\nCOPY --from=0 /b /b\n\
            COPY --chown=1000 --from=paas/other:b1 /c /c\n";
        assert_eq!(
            names(dockerfile),
            [
                (From, "paas/stack-build:bookworm".into(), true),
                (From, "paas/stack-run:bookworm".into(), true),
                (CopyFrom, "paas/other:b1".into(), true),
            ]
        );
    }

    #[test]
    fn a_stage_index_not_yet_defined_is_an_image() {
        let refs = names("FROM a\nCOPY --from=1 /x /x\nCOPY --from=0 /y /y\n");
        assert_eq!(
            refs,
            [(From, "a".into(), true), (CopyFrom, "1".into(), true)]
        );
    }

    #[test]
    fn mounts_onbuild_and_quotes_name_images_too() {
        let dockerfile = "FROM base AS b\n\
            RUN --mount=type=bind,FROM=\"paas/x:b2\",target=/x true\n\
            RUN --mount=type=cache,target=/c --mount=type=bind,from=b true\n\
            onbuild COPY --from=b /y /y\n\
            COPY --from='paas/q:b1' /z /z\n";
        assert_eq!(
            names(dockerfile),
            [
                (From, "base".into(), true),
                (MountFrom, "paas/x:b2".into(), true),
                (CopyFrom, "b".into(), true),
                (CopyFrom, "paas/q:b1".into(), true),
            ]
        );
    }

    #[test]
    fn continuations_and_comments_are_read_as_docker_reads_them() {
        let dockerfile =
            "FROM \\\n  # a comment inside\n\n  paas/one:b1\r\nRUN echo \\\nFROM paas/hidden:b1\n";
        assert_eq!(names(dockerfile), [(From, "paas/one:b1".into(), true)]);
        // With the backtick escape the second FROM is an instruction of its own.
        let backtick = format!("# escape=`\n{dockerfile}");
        assert!(names(&backtick).contains(&(From, "paas/hidden:b1".into(), true)));
    }

    #[test]
    fn global_arg_defaults_resolve_and_others_do_not() {
        let dockerfile = "ARG BASE=paas/stack-run:bookworm\nARG TAG=b1 EMPTY\nARG NESTED=$BASE\n\
            FROM $BASE\nFROM ${BASE}\nFROM paas/app:${TAG}\nFROM ${MISSING:-paas/d:b1}\n\
            FROM $EMPTY\nFROM ${NESTED}\nFROM ${LATE}\nARG LATE=x\n";
        assert_eq!(
            names(dockerfile),
            [
                (From, "paas/stack-run:bookworm".into(), true),
                (From, "paas/app:b1".into(), true),
                (From, "paas/d:b1".into(), true),
                (From, "$EMPTY".into(), false),
                (From, "${NESTED}".into(), false),
                (From, "${LATE}".into(), false),
            ]
        );
        assert_eq!(
            names("FROM a\nCOPY --from=$X /a /a\n")[1],
            (CopyFrom, "$X".into(), false)
        );
        // A default Docker would expand from another ARG is not guessed at.
        let chained = "ARG Y=paas/victim:b1\nARG X=$Y\nFROM ${X:-paas/stack-run:bookworm}\n";
        assert_eq!(
            names(chained),
            [(From, "${X:-paas/stack-run:bookworm}".into(), false)]
        );
        assert!(
            !names("FROM paas/vic\\tim:b1\n")[0].2,
            "escapes are not checkable"
        );
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in "\\PC*") {
            let _ = image_refs(&text, &BTreeMap::new());
        }

        #[test]
        fn dockerfile_like_text_parses_without_panicking(
            lines in proptest::collection::vec(
                "(# ?escape=`|FROM|from|COPY --from=|RUN --mount=from=|ONBUILD|ARG [A-Z]{1,3}=|\\$\\{?[A-Z:+-]{0,4}\\}?|[a-z/:0-9]{0,8}|\\\\|`|\"|'| |\\r|\u{feff})*",
                0..12,
            )
        ) {
            let text = lines.join("\n");
            for r in image_refs(&text, &BTreeMap::new()) {
                prop_assert!(!r.resolved || !r.name.contains('$'));
            }
        }
    }
}
