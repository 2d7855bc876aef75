//! Flash messages: the one line a form action leaves for the page it redirects to, read
//! once from a short-lived cookie. A secret shown once (a new token or password) rides
//! along, so it never appears in a URL and a reload does not create another one.

use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    Notice,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub tone: Tone,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// Something the user must copy now: the server keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub label: String,
    pub value: String,
    /// A command using it, e.g. `paas login URL --token TOKEN`.
    #[serde(default)]
    pub usage: Option<String>,
}

/// Cookies hold about 4 KiB; a longer message is cut rather than lost.
const MAX_MESSAGE: usize = 1000;

impl Flash {
    pub fn notice(message: impl Into<String>) -> Self {
        Flash::new(Tone::Notice, message.into())
    }

    pub fn error(message: impl Into<String>) -> Self {
        Flash::new(Tone::Error, message.into())
    }

    fn new(tone: Tone, mut message: String) -> Self {
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Flash {
            tone,
            message,
            secret: None,
        }
    }

    pub fn with_secret(mut self, label: &str, value: String, usage: Option<String>) -> Self {
        self.secret = Some(Secret {
            label: label.to_owned(),
            value,
            usage,
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.tone == Tone::Error
    }

    /// The cookie value: base64url of JSON, so any text survives the header.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// A flash cookie that does not decode is ignored, not an error.
    pub fn decode(value: &str) -> Option<Flash> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_the_cookie_round_trip_with_any_text() {
        let flash = Flash::error("bad; \"quotes\", commas, é and <tags>").with_secret(
            "token",
            "abc".into(),
            Some("paas login http://x --token abc".into()),
        );
        let encoded = flash.encode();
        assert!(
            encoded
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(Flash::decode(&encoded), Some(flash));
        assert_eq!(Flash::decode("not base64!"), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let flash = Flash::notice("é".repeat(2000));
        assert!(flash.message.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(flash.message.ends_with('…'));
    }
}
