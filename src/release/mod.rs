//! The release model's pure rules: how a process's environment is layered and how
//! releases are described. Storage is in `store/`, the use cases in `ops/`.

mod description;
mod layering;

pub use description::{Description, short_sha};
pub use layering::{PlatformVars, process_env};
