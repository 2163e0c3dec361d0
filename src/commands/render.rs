//! `git2s3 render`: print a template, or its parameter values as JSON.
//! With `--output json`, the template comes as one JSON document too.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{GlobalArgs, OutputFormat, RenderArgs};
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
    if args.parameters {
        // What `aws cloudformation create-stack --parameters file://…` reads,
        // in either output mode.
        crate::context::print_json(&template.parameters(&settings)?)?;
    } else if global.output == OutputFormat::Json {
        crate::context::print_json(&serde_json::json!({
            "template": template.name(),
            "body": template.body(),
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(template.body().as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
