//! Zip archives: [`write`], the streaming writer every zip git2s3 makes goes
//! through, and [`read`], the streaming reader for providers' archives.

pub mod directory;
pub mod read;
pub mod write;

pub use write::*;
