//! What a test push found: each named [`Check`], and the [`Verdict`].

use serde::Serialize;

/// One named check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// The outcome: whether the zip came, and every check made.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub repo: String,
    pub git_ref: String,
    pub commit: String,
    pub key: String,
    pub delivery: String,
    pub checks: Vec<Check>,
}

impl Verdict {
    /// A test push that could not be sent, for the reason in `check`.
    pub fn not_sent(check: Check) -> Verdict {
        Verdict {
            ok: false,
            repo: String::new(),
            git_ref: String::new(),
            commit: String::new(),
            key: String::new(),
            delivery: String::new(),
            checks: vec![check],
        }
    }

    /// The first failed check, which says what to fix.
    pub fn failed(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// One line per check, `ok` or `FAILED`, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        self.checks
            .iter()
            .map(|c| {
                let mark = if c.ok { "ok    " } else { "FAILED" };
                format!("{mark} {:<18}{}", c.name, c.detail)
            })
            .collect()
    }
}

/// The verdict for a person: each check, then one line that sums it up.
pub fn print_text(verdict: &Verdict) -> std::io::Result<()> {
    if !verdict.repo.is_empty() {
        crate::out!(
            "Test push of {} {} (delivery {}):",
            verdict.repo,
            verdict.git_ref,
            verdict.delivery
        );
    }
    for line in verdict.lines() {
        crate::out!("  {line}");
    }
    match verdict.failed() {
        None => crate::out!("The test zip is in S3: pushes reach git2s3 and become zips."),
        Some(check) => crate::out!(
            "The test zip did not come: the `{}` check failed; its line above says what to do.",
            check.name
        ),
    }
    Ok(())
}
