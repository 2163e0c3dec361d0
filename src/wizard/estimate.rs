//! The review screen's "what will be created" and idle cost estimate.

use crate::settings::{Method, Settings};
use crate::template::Template;

/// Resource types in the core template (and the pipeline's, if chosen),
/// with how many of each: `[("AWS::Lambda::Function", 2), …]`.
pub fn resources(settings: &Settings) -> Vec<(String, usize)> {
    let mut templates = vec![Template::Core];
    if settings.pipeline.is_some() {
        templates.push(Template::Pipeline);
    }
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for t in templates {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(t.body()).expect("the embedded templates are YAML");
        if let Some(map) = doc["Resources"].as_mapping() {
            for resource in map.values() {
                if let Some(kind) = resource["Type"].as_str() {
                    *counts.entry(kind.to_string()).or_default() += 1;
                }
            }
        }
    }
    counts.into_iter().collect()
}

/// Secrets Manager's price per secret and month, in US dollars (us-east-1, 2026).
const SECRET_MONTHLY_USD: f64 = 0.40;

/// The secrets `init` will store for these settings.
pub fn secrets(settings: &Settings) -> usize {
    let token = settings.method == Method::ZipDownload;
    1 + usize::from(settings.method == Method::GitPull) + usize::from(token)
}

/// The idle stack's monthly cost, with the reason, in one line.
pub fn idle_cost(settings: &Settings) -> String {
    let n = secrets(settings);
    format!(
        "about ${:.2} a month while idle: {n} secret(s) at ${SECRET_MONTHLY_USD:.2}; API Gateway, Lambda, SQS{} \
         are billed per use, S3 per GB stored, CloudWatch Logs per GB ingested",
        n as f64 * SECRET_MONTHLY_USD,
        if settings.pipeline.is_some() {
            ", CodePipeline V2 (per action minute) and CodeBuild"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_stack_lists_its_functions_and_queues() {
        let r = resources(&Settings::default());
        let count = |k: &str| r.iter().find(|(t, _)| t == k).map(|(_, n)| *n);
        // The receiver, the worker and the sweep.
        assert_eq!(count("AWS::Lambda::Function"), Some(3));
        assert_eq!(count("AWS::SQS::Queue"), Some(2));
        assert_eq!(count("AWS::CodePipeline::Pipeline"), None);
    }

    #[test]
    fn idle_cost_counts_the_secrets() {
        let s = Settings::default();
        assert_eq!(secrets(&s), 2);
        assert!(idle_cost(&s).starts_with("about $0.80 a month while idle"));
    }
}
