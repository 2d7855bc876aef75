//! The local terminal in raw mode while `paas run` talks to a remote one: keys go through
//! as typed (Ctrl-C included) and the remote terminal does the echoing.

use rustix::termios::{OptionalActions, Termios, tcgetattr, tcsetattr};

/// Raw mode on stdin until dropped, which restores the settings it found.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> std::io::Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}
