//! `git2s3 render`: print a template, or its parameter values as JSON.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{GlobalArgs, RenderArgs};
use crate::settings::Overrides;
use crate::template::Template;

pub fn run(global: &GlobalArgs, args: &RenderArgs) -> anyhow::Result<ExitCode> {
    // The configuration is loaded even to print the template, so that a
    // broken git2s3.yaml is reported now rather than at deploy time.
    let settings = crate::context::load_settings(global, &Overrides::new())?;
    let template = if args.pipeline {
        Template::Pipeline
    } else {
        Template::Core
    };
    let mut out = std::io::stdout().lock();
    if args.parameters {
        let params = template.parameters(&settings)?;
        serde_json::to_writer_pretty(&mut out, &params)?;
        writeln!(out)?;
    } else {
        out.write_all(template.body().as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
