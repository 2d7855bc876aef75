//! Lifecycle states of builds and releases, with the words users see.

use std::fmt;
use std::str::FromStr;

use super::Invalid;

macro_rules! lifecycle {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Invalid::new(format!(
                        concat!("unknown ", stringify!($name), " \"{}\""), other
                    ))),
                }
            }
        }
    };
}

lifecycle! {
    /// A release is pending while it rolls out, then succeeded or failed, or superseded
    /// when a newer release was waiting before it started; never edited after.
    ReleaseState {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
        Superseded => "superseded",
    }
}

lifecycle! {
    /// A build runs once; its record and log are kept whatever the outcome.
    BuildState {
        Pending => "pending",
        Building => "building",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

impl BuildState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            BuildState::Succeeded | BuildState::Failed | BuildState::Cancelled
        )
    }
}

lifecycle! {
    /// A domain's certificate: being obtained, valid and served, or failed (with a reason
    /// kept beside it); an ACME renewal goes back to pending while the old one is served.
    CertState {
        Pending => "pending",
        Valid => "valid",
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_words() {
        for s in [
            ReleaseState::Pending,
            ReleaseState::Succeeded,
            ReleaseState::Failed,
            ReleaseState::Superseded,
        ] {
            assert_eq!(s.as_str().parse::<ReleaseState>().unwrap(), s);
        }
        assert!("nope".parse::<BuildState>().is_err());
    }
}

lifecycle! {
    /// A backup runs once; a failed one keeps its reason and never replaces a good one.
    BackupState {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}
