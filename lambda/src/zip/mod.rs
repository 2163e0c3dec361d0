//! Zip archives: [`write`], the streaming writer every zip git2s3 makes goes
//! through (with the git ids of a git-pull zip's entries); [`read`], the
//! streaming reader for providers' archives; and [`directory`], a git2s3
//! zip's central directory read back from its end, for a warm build.

pub mod directory;
pub mod read;
pub mod write;

pub use write::*;
