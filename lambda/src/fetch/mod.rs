//! Getting the code of a push: [`git`] fetches it over SSH (the git-pull
//! method), checking the server against [`hostkeys`].

pub mod git;
pub mod hostkeys;
