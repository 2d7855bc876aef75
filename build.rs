//! Embeds `stack/` and `buildpacks/` into the binary, so one file carries everything
//! `paas stack:build` needs: writes `$OUT_DIR/embedded_files.rs`, a table of
//! (relative path, unix mode, contents).

use std::fmt::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["stack", "buildpacks"] {
        println!("cargo:rerun-if-changed={dir}");
        collect(&root, &root.join(dir), &mut files);
    }
    files.sort();
    let mut out = String::from("pub static FILES: &[(&str, u32, &[u8])] = &[\n");
    for (relative, mode, absolute) in &files {
        writeln!(
            out,
            "    ({relative:?}, {mode:#o}, include_bytes!({absolute:?})),"
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_files.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, u32, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if meta.is_file() {
            let relative = path
                .strip_prefix(root)
                .expect("walked below root")
                .to_string_lossy()
                .into_owned();
            files.push((
                relative,
                meta.permissions().mode() & 0o777,
                path.to_string_lossy().into_owned(),
            ));
        }
    }
}
