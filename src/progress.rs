//! Progress for long work: a spinner on a terminal, plain lines otherwise
//! (CI, pipes, `--output json`). Everything goes to stderr, so stdout holds
//! only the command's result.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes for one command.
pub struct Progress {
    spinner: Option<ProgressBar>,
}

impl Progress {
    /// A spinner when stderr is a terminal and `CI` is unset; plain lines otherwise.
    pub fn new() -> Self {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress {
            spinner: live.then(|| {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .expect("static template"),
                );
                bar
            }),
        }
    }

    /// Plain lines only, whatever stderr is.
    pub fn plain() -> Self {
        Progress { spinner: None }
    }

    /// A new step: `==> message`.
    pub fn step(&self, message: impl AsRef<str>) {
        self.println(format!("==> {}", message.as_ref()));
    }

    /// A detail under the current step.
    pub fn line(&self, message: impl AsRef<str>) {
        self.println(format!("    {}", message.as_ref()));
    }

    /// What is being waited for. On a terminal it turns the spinner; in plain
    /// mode it prints nothing, as the lines around it say the same.
    pub fn waiting(&self, message: impl Into<String>) {
        if let Some(bar) = &self.spinner {
            bar.set_message(message.into());
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    /// Stops the spinner, leaving the lines printed so far.
    pub fn done(&self) {
        if let Some(bar) = &self.spinner {
            bar.disable_steady_tick();
            bar.finish_and_clear();
        }
    }

    fn println(&self, line: String) {
        match &self.spinner {
            Some(bar) if !bar.is_finished() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}
