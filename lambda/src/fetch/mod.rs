//! Getting the code of a push: [`git`] fetches it over SSH (the git-pull
//! method), checking the server against [`hostkeys`]; [`archive`]
//! downloads the provider's zip (the zip-download method); [`keys`] reads
//! the deploy-key secret, one key or one per repository.

pub mod archive;
pub mod git;
pub mod hostkeys;
pub mod keys;
pub mod upload_pack;
