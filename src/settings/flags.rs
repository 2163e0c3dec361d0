//! Which command-line flag sets which configuration key: the top layer of
//! the merge, beside the environment's `ENV_VARS` (in `load`). Commands set
//! their flags' values through [`set_flag`], so a flag's key is written
//! once, here.

use serde::Serialize;
use serde_yaml::Value;

use super::model::Overrides;

/// Every flag that sets a configuration key: (flag, dotted key).
pub const FLAGS: &[(&str, &str)] = &[
    ("--stack-name", "stack_name"),
    ("--region", "region"),
    ("--provider", "provider"),
    ("--api-url", "api_url"),
    ("--repo", "repos"),
    ("--org", "org"),
    ("--method", "method"),
    ("--bucket", "bucket.name"),
    ("--architecture", "lambda.architecture"),
    ("--include-ref", "filters.include_refs"),
    ("--exclude-ref", "filters.exclude_refs"),
    ("--include-path", "filters.include_paths"),
    (
        "--noncurrent-version-days",
        "bucket.noncurrent_version_days",
    ),
];

/// The key `flag` sets. Every flag a command passes is in [`FLAGS`].
pub fn flag_key(flag: &str) -> &'static str {
    FLAGS
        .iter()
        .find(|(f, _)| *f == flag)
        .map(|(_, key)| *key)
        .unwrap_or_else(|| panic!("{flag} is not in settings::FLAGS"))
}

/// Lays `flag`'s value, when it was given, over the configuration.
pub fn set_flag<T: Serialize + ?Sized>(overrides: &mut Overrides, flag: &str, value: Option<&T>) {
    if let Some(value) = value {
        let value = serde_yaml::to_value(value).expect("flag values serialize to YAML");
        overrides.insert(flag_key(flag), value);
    }
}

/// Lays a repeatable flag's values over the configuration, when any were given.
pub fn set_list_flag(overrides: &mut Overrides, flag: &str, values: &[String]) {
    if !values.is_empty() {
        let list = values.iter().cloned().map(Value::String).collect();
        overrides.insert(flag_key(flag), Value::Sequence(list));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_sets_a_key_the_configuration_knows() {
        let defaults = serde_yaml::to_value(super::super::model::Settings::default()).unwrap();
        for (flag, key) in FLAGS {
            let top = key.split('.').next().unwrap();
            assert!(
                defaults.get(top).is_some() || ["region", "api_url", "org"].contains(&top),
                "{flag} sets {key}, which is not a configuration key"
            );
        }
    }

    #[test]
    fn flags_given_become_overrides_and_absent_ones_do_not() {
        let mut o = Overrides::new();
        set_flag(&mut o, "--bucket", Some("zips"));
        set_flag::<str>(&mut o, "--org", None);
        set_list_flag(&mut o, "--repo", &[]);
        assert_eq!(o.len(), 1);
        assert_eq!(o["bucket.name"], Value::String("zips".into()));
    }
}
