//! JSON as Dokku reads it: `//` and `/* */` comments and trailing commas, made plain
//! JSON in place so a parser's line and column still point into the text as written.

/// JSON with comments and trailing commas made plain JSON: each comment and each trailing
/// comma becomes spaces (newlines kept), so an error still names the line and column of
/// the text as written.
pub fn relaxed_json(text: &str) -> String {
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
}
