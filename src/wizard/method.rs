//! Screen 5: how the code is fetched: git pull or zip download.

use dialoguer::Select;

use crate::settings::{Method, Settings};

pub fn method(settings: &mut Settings) -> anyhow::Result<()> {
    let i = Select::new()
        .with_prompt("Method")
        .items([
            "Git pull: the Lambda fetches the pushed commit over SSH with a read-only deploy key (any Git server)",
            "Zip download: the Lambda downloads the provider's archive of the commit with your API token (no SSH)",
        ])
        .default(usize::from(settings.method == Method::ZipDownload))
        .interact()?;
    settings.method = if i == 0 {
        Method::GitPull
    } else {
        Method::ZipDownload
    };
    Ok(())
}
