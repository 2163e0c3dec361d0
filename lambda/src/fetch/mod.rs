//! Getting the code of a push: [`git`] fetches it over SSH (the git-pull
//! method), checking the server against [`hostkeys`]; [`archive`]
//! downloads the provider's zip (the zip-download method).

pub mod archive;
pub mod git;
pub mod hostkeys;
