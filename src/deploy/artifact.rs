//! The Lambda zip (`bootstrap.zip`, built by `cargo lambda build`): found,
//! checked, and uploaded to the artifacts bucket that the CLI keeps once per
//! account and region, keyed by the zip's SHA-256 so that an unchanged zip
//! is never uploaded twice and a changed one always redeploys.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::bucket;
use super::error::{ArtifactError, DeployError};
use super::identity::Identity;
use crate::aws::AwsResultExt;
use crate::progress::Progress;
use crate::settings::{Architecture, Settings};

/// A checked Lambda zip, in memory.
pub struct LambdaZip {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for LambdaZip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaZip")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Where the zip was staged.
#[derive(Debug, Clone, Serialize)]
pub struct Staged {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    pub uploaded: bool,
}

/// The places searched, in order, when --lambda-zip is not given: the
/// checkout's `cargo lambda build` output, then beside the executable.
pub fn candidates(cargo_target_dir: Option<&Path>, exe: Option<&Path>) -> Vec<PathBuf> {
    let built = Path::new("lambda/bootstrap/bootstrap.zip");
    let mut out = Vec::new();
    if let Some(dir) = cargo_target_dir {
        out.push(dir.join(built));
    }
    out.push(Path::new("target").join(built));
    if let Some(dir) = exe.and_then(Path::parent) {
        out.push(dir.join("bootstrap.zip"));
        // target/<profile>/git2s3 → target/lambda/bootstrap/bootstrap.zip
        if let Some(target) = dir.parent() {
            out.push(target.join(built));
        }
    }
    out
}

/// The zip to deploy: `explicit`, else the first candidate that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ArtifactError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    let exe = std::env::current_exe().ok();
    let searched = candidates(target_dir.as_deref(), exe.as_deref());
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ArtifactError::NotFound {
            searched: searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Reads the zip and checks that it holds a `bootstrap` ELF binary for `arch`.
pub fn load(path: &Path, arch: Architecture) -> Result<LambdaZip, ArtifactError> {
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |problem: String| ArtifactError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
        .map_err(|e| invalid(format!("it is not a zip ({e})")))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| invalid("it has no `bootstrap` file at its root".into()))?;
    let mut header = [0u8; 20];
    entry
        .read_exact(&mut header)
        .map_err(|_| invalid("its `bootstrap` is too short to be a program".into()))?;
    if &header[..4] != b"\x7fELF" {
        return Err(invalid(
            "its `bootstrap` is not a Linux (ELF) program".into(),
        ));
    }
    let found = match u16::from_le_bytes([header[18], header[19]]) {
        62 => Architecture::X86_64,
        183 => Architecture::Arm64,
        other => {
            return Err(invalid(format!(
                "its `bootstrap` is for machine type {other}"
            )))
        }
    };
    if found != arch {
        return Err(ArtifactError::WrongArchitecture {
            path: path.to_path_buf(),
            found: found.as_str(),
            wanted: arch.as_str(),
            flag: if arch == Architecture::Arm64 {
                " --arm64"
            } else {
                ""
            },
        });
    }
    drop(entry);
    Ok(LambdaZip {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// Stages a checked zip, points `settings` at it (bucket, key and object
/// version), and says what happened on `progress`. The key holds the zip's
/// hash, so staging the same zip again finds the same version, and is not
/// a change to the stack.
pub async fn deploy_from(
    zip: &LambdaZip,
    settings: &mut Settings,
    s3: &aws_sdk_s3::Client,
    me: &Identity,
    progress: &Progress,
) -> Result<Staged, DeployError> {
    let staged = stage(s3, zip, &me.account, &me.region).await?;
    progress.line(format!(
        "{} → s3://{}/{} ({})",
        zip.path.display(),
        staged.bucket,
        staged.key,
        if staged.uploaded {
            "uploaded"
        } else {
            "already there"
        }
    ));
    settings.lambda.code_bucket = Some(staged.bucket.clone());
    settings.lambda.code_key = Some(staged.key.clone());
    settings.lambda.code_version = staged.version.clone();
    Ok(staged)
}

/// Points `settings` at where `zip` is, or would be, staged, without
/// uploading anything (for `update-stack --diff`): its version when an
/// object is already at its key, none otherwise.
pub async fn locate_staged(
    zip: &LambdaZip,
    settings: &mut Settings,
    s3: &aws_sdk_s3::Client,
    me: &Identity,
) -> Result<(), DeployError> {
    let bucket = artifacts_bucket(&me.account, &me.region);
    let key = format!("lambda/{}/bootstrap.zip", zip.sha256);
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .expected_bucket_owner(&me.account)
        .send()
        .await
        .aws("s3:GetObject");
    settings.lambda.code_version = match head {
        Ok(h) => h.version_id().map(str::to_string),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    settings.lambda.code_bucket = Some(bucket);
    settings.lambda.code_key = Some(key);
    Ok(())
}

/// The CLI's artifacts bucket for an account and region.
pub fn artifacts_bucket(account: &str, region: &str) -> String {
    format!("git2s3-artifacts-{account}-{region}")
}

/// Uploads the zip to the artifacts bucket (creating the bucket once),
/// unless the object at its key already holds exactly these bytes. The
/// bucket's name is predictable, so nothing is taken on its name: every
/// call names this account as the bucket's owner, an object already there
/// is read and hashed before it is reused (its key says what its SHA-256
/// must be), and the object version staged or checked is recorded, so the
/// stack's functions run that version and no other.
pub async fn stage(
    s3: &aws_sdk_s3::Client,
    zip: &LambdaZip,
    account: &str,
    region: &str,
) -> Result<Staged, DeployError> {
    let bucket = artifacts_bucket(account, region);
    bucket::ensure_private(s3, &bucket, account, region).await?;
    let key = format!("lambda/{}/bootstrap.zip", zip.sha256);
    match s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .expected_bucket_owner(account)
        .send()
        .await
        .aws("s3:GetObject")
    {
        Ok(existing) => {
            let version = existing.version_id().map(str::to_string);
            let bytes = existing
                .body
                .collect()
                .await
                .map_err(|e| ArtifactError::Download {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    message: e.to_string(),
                })?
                .into_bytes();
            if hex::encode(Sha256::digest(&bytes)) == zip.sha256 {
                return Ok(Staged {
                    version,
                    bucket,
                    key,
                    uploaded: false,
                });
            }
            tracing::warn!(
                bucket, key,
                "the object does not hold the zip its key names (its SHA-256 differs): uploading the zip again"
            );
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let out = s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .expected_bucket_owner(account)
        .content_type("application/zip")
        .body(zip.bytes.clone().into())
        .send()
        .await
        .aws("s3:PutObject")?;
    Ok(Staged {
        version: out.version_id().map(str::to_string),
        bucket,
        key,
        uploaded: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(name: &str, content: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content).unwrap();
        file.write_all(&writer.finish().unwrap().into_inner())
            .unwrap();
        file
    }

    fn elf(machine: u16) -> Vec<u8> {
        let mut header = b"\x7fELF\x02\x01\x01".to_vec();
        header.resize(18, 0);
        header.extend_from_slice(&machine.to_le_bytes());
        header.extend_from_slice(&[0; 44]);
        header
    }

    #[test]
    fn accepts_a_bootstrap_for_the_configured_architecture() {
        let file = zip_with("bootstrap", &elf(62));
        let zip = load(file.path(), Architecture::X86_64).unwrap();
        assert_eq!(zip.sha256.len(), 64);
        let err = load(file.path(), Architecture::Arm64)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds a x86_64 binary but lambda.architecture is arm64"),
            "{err}"
        );
        assert!(err.contains("--arm64"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_lambda_zip() {
        let no_bootstrap = zip_with("main", &elf(62));
        let err = load(no_bootstrap.path(), Architecture::X86_64).unwrap_err();
        assert!(err.to_string().contains("no `bootstrap` file"), "{err}");
        let script = zip_with("bootstrap", b"#!/bin/sh\necho hello, this is not ELF\n");
        let err = load(script.path(), Architecture::X86_64).unwrap_err();
        assert!(
            err.to_string().contains("not a Linux (ELF) program"),
            "{err}"
        );
        let mut text = tempfile::NamedTempFile::new().unwrap();
        text.write_all(b"hello").unwrap();
        let err = load(text.path(), Architecture::X86_64).unwrap_err();
        assert!(err.to_string().contains("it is not a zip"), "{err}");
    }

    #[test]
    fn searches_the_checkout_then_beside_the_executable() {
        let list = candidates(
            Some(Path::new("/cache/target")),
            Some(Path::new("/src/target/release/git2s3")),
        );
        let list: Vec<_> = list.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            list,
            [
                "/cache/target/lambda/bootstrap/bootstrap.zip",
                "target/lambda/bootstrap/bootstrap.zip",
                "/src/target/release/bootstrap.zip",
                "/src/target/lambda/bootstrap/bootstrap.zip",
            ]
        );
    }
}
