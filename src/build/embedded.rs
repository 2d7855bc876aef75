//! The stack scripts and built-in buildpacks compiled into the binary (see build.rs), and
//! a digest of them: a stack image made from other files is rebuilt.

use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/embedded_files.rs"));

/// Writes every embedded file below `dir` (`dir/stack/...`, `dir/buildpacks/...`).
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (relative, mode, contents) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))?;
    }
    Ok(())
}

/// 16 hex digits identifying the embedded stack inputs.
pub fn digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut hash = Sha256::new();
        for (relative, mode, contents) in FILES {
            hash.update(relative.as_bytes());
            hash.update(mode.to_le_bytes());
            hash.update((contents.len() as u64).to_le_bytes());
            hash.update(contents);
        }
        hex::encode(hash.finalize())[..16].to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_scripts_and_buildpacks_are_embedded_with_their_modes() {
        let launcher = FILES
            .iter()
            .find(|(p, _, _)| *p == "stack/bin/paas-launch")
            .expect("launcher embedded");
        assert_eq!(launcher.1 & 0o111, 0o111, "scripts stay executable");
        assert!(
            FILES
                .iter()
                .any(|(p, _, _)| p.starts_with("buildpacks/python/bin/"))
        );
        assert_eq!(digest().len(), 16);
    }
}
