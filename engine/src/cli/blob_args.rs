//! Where the marketplace keeps component blobs: `DATA_DIR/blobs`, or an
//! object store by URL (S3-compatible, for several servers sharing one).

use clap::Args;
use trellis_engine::installs::Blobs;

#[derive(Debug, Args)]
pub struct BlobArgs {
    /// Object store for plugin blobs: `s3://bucket/prefix` (default: the
    /// data directory's `blobs/`).
    #[arg(long, env = "TRELLIS_BLOBS")]
    blobs: Option<String>,
    /// An option of that store, `KEY=VALUE` (`aws_endpoint`, `aws_region`,
    /// `aws_access_key_id`, `aws_secret_access_key`, …); repeatable.
    #[arg(long = "blob-option", value_name = "KEY=VALUE")]
    blob_options: Vec<String>,
}

impl BlobArgs {
    pub fn blobs(&self) -> anyhow::Result<Blobs<'_>> {
        let Some(url) = self.blobs.as_deref() else { return Ok(Blobs::Local) };
        let options = self
            .blob_options
            .iter()
            .map(|option| {
                option
                    .split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| anyhow::anyhow!("--blob-option `{option}` is not KEY=VALUE"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Blobs::Url(url, options))
    }
}
