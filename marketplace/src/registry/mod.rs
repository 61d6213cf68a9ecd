//! The registry: publishers the operator
//! approved, every published version with what `describe` returned, yanks,
//! and search. Its own SQLite database (`marketplace.db`) beside the blob
//! store, so it runs inside `trellis serve` or alone
//! (`trellis marketplace serve`) for several servers to pull from.

mod records;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use thiserror::Error;
use trellis_host_api::Runtime;

pub use records::{PluginSummary, Publisher, Search, VersionDetail, VersionSummary};

use crate::blobs::{BlobError, BlobStore};
use crate::manifest::{Category, is_slug};
use crate::publish::{Check, Refusal, RegistryView, Upload, check_package};
use crate::signing::{ComponentDigest, PublisherKey};

/// Most plugins one listing returns.
pub const MAX_LISTING: u32 = 100;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0} not found")]
    NotFound(String),
    /// The request contradicts what is stored (a publisher name taken by
    /// another key).
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// A signed request whose signature does not verify.
    #[error("{0}")]
    BadSignature(String),
    #[error("registry database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("registry migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("stored registry record is corrupt: {0}")]
    Corrupt(String),
}

fn corrupt(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Corrupt(e.to_string())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub struct Registry {
    pool: SqlitePool,
    blobs: BlobStore,
    /// The sandbox the publish checks load and describe components in.
    runtime: Runtime,
}

const VERSION_COLUMNS: &str = "name, version, publisher, description, category, license, digest, size, manifest, \
     signature, kinds, published_at, yanked_at";

impl Registry {
    /// Opens (creating if needed) `marketplace.db` in `dir`.
    pub async fn open(dir: &Path, blobs: BlobStore, runtime: Runtime) -> Result<Self, RegistryError> {
        std::fs::create_dir_all(dir).map_err(|e| RegistryError::Database(sqlx::Error::Io(e)))?;
        let path = dir.join("marketplace.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        // Two processes opening one directory at once both migrate; the
        // loser retries and then finds the migrations applied.
        let mut attempt = 0;
        loop {
            match sqlx::migrate!("./migrations").run(&pool).await {
                Ok(()) => break,
                Err(_) if attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Registry { pool, blobs, runtime })
    }

    /// The largest publish request: the component, base64, and a manifest.
    pub fn max_publish_body(&self) -> usize {
        self.runtime.config().max_component_bytes / 3 * 4 + 4 + 2 * crate::manifest::MAX_MANIFEST_BYTES + (16 << 10)
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Records a publisher's name and key, pending the operator's approval.
    /// Registering the same name with the same key again is harmless.
    pub async fn register_publisher(&self, name: &str, public_key: &str) -> Result<Publisher, RegistryError> {
        if !is_slug(name) {
            return Err(RegistryError::Invalid {
                field: "name",
                message: "must be 1–63 of a-z, 0-9 and `-`, starting with a letter or digit".to_owned(),
            });
        }
        let key = PublisherKey::from_text(public_key)
            .map_err(|e| RegistryError::Invalid { field: "public_key", message: e.to_string() })?;
        sqlx::query(
            "INSERT INTO publishers (name, public_key, registered_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(key.to_text())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let stored = self.publisher(name).await?.ok_or_else(|| corrupt("publisher vanished"))?;
        if stored.public_key != key.to_text() {
            return Err(RegistryError::Conflict(format!("publisher `{name}` is registered with another key")));
        }
        Ok(stored)
    }

    /// The operator's approval: from now on the publisher may publish.
    pub async fn approve_publisher(&self, name: &str) -> Result<Publisher, RegistryError> {
        sqlx::query("UPDATE publishers SET approved_at = COALESCE(approved_at, ?) WHERE name = ?")
            .bind(now_ms())
            .bind(name)
            .execute(&self.pool)
            .await?;
        self.publisher(name).await?.ok_or_else(|| RegistryError::NotFound(format!("publisher `{name}`")))
    }

    pub async fn publisher(&self, name: &str) -> Result<Option<Publisher>, RegistryError> {
        let row = sqlx::query("SELECT name, public_key, registered_at, approved_at FROM publishers WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| publisher_of(&row)))
    }

    /// Every publisher, pending ones first (what the operator reviews).
    pub async fn publishers(&self) -> Result<Vec<Publisher>, RegistryError> {
        let rows = sqlx::query(
            "SELECT name, public_key, registered_at, approved_at FROM publishers
             ORDER BY approved_at IS NOT NULL, name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(publisher_of).collect())
    }

    /// Runs the publish checks; only when all pass is the blob stored and
    /// the version recorded.
    pub async fn publish(&self, upload: &Upload<'_>) -> Result<VersionDetail, RegistryError> {
        let accepted = check_package(&self.runtime, self, upload).await?;
        let digest = self.blobs.put(Bytes::copy_from_slice(upload.component)).await?;
        let manifest_text = String::from_utf8_lossy(upload.manifest).into_owned();
        let detail = VersionDetail::new(
            &accepted.manifest,
            manifest_text,
            digest.to_string(),
            upload.component.len() as u64,
            upload.signature.trim().to_owned(),
            accepted.kinds,
            now_ms(),
        );
        let kinds = serde_json::to_string(&detail.kinds).map_err(corrupt)?;
        let inserted = sqlx::query(
            "INSERT INTO plugin_versions (name, version, publisher, description, category, license, digest, size,
                 manifest, signature, kinds, published_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&detail.name)
        .bind(detail.version.to_string())
        .bind(&detail.publisher)
        .bind(&detail.description)
        .bind(detail.category.as_str())
        .bind(&detail.license)
        .bind(&detail.digest)
        .bind(detail.size as i64)
        .bind(&detail.manifest)
        .bind(&detail.signature)
        .bind(kinds)
        .bind(detail.published_at)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            // Another publish of the same version won the race.
            return Err(Refusal {
                check: Check::Version,
                message: format!("{}@{} is already published; versions are immutable", detail.name, detail.version),
            }
            .into());
        }
        Ok(detail)
    }

    /// Yanks a version, on its publisher's signature: no new installs,
    /// existing installs keep working. Yanking twice is harmless.
    pub async fn yank(
        &self,
        name: &str,
        version: &semver::Version,
        signature: &str,
    ) -> Result<VersionDetail, RegistryError> {
        let detail = self.version(name, version).await?;
        let publisher = self.publisher(&detail.publisher).await?.ok_or_else(|| corrupt("version without publisher"))?;
        let key = PublisherKey::from_text(&publisher.public_key).map_err(corrupt)?;
        key.verify_yank(name, version, signature).map_err(|e| {
            RegistryError::BadSignature(format!("yank of {name}@{version}: {e} (publisher `{}`)", publisher.name))
        })?;
        sqlx::query("UPDATE plugin_versions SET yanked_at = COALESCE(yanked_at, ?) WHERE name = ? AND version = ?")
            .bind(now_ms())
            .bind(name)
            .bind(version.to_string())
            .execute(&self.pool)
            .await?;
        self.version(name, version).await
    }

    pub async fn version(&self, name: &str, version: &semver::Version) -> Result<VersionDetail, RegistryError> {
        let row = sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = ? AND version = ?"))
            .bind(name)
            .bind(version.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => detail_of(&row),
            None => Err(RegistryError::NotFound(format!("{name}@{version}"))),
        }
    }

    /// Every version of a plugin, newest first (yanked ones marked).
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionSummary>, RegistryError> {
        let rows = sqlx::query("SELECT version, digest, published_at, yanked_at FROM plugin_versions WHERE name = ?")
            .bind(name)
            .fetch_all(&self.pool)
            .await?;
        let mut versions = rows
            .iter()
            .map(|row| {
                Ok(VersionSummary {
                    version: row.get::<String, _>("version").parse().map_err(corrupt)?,
                    digest: row.get("digest"),
                    published_at: row.get("published_at"),
                    yanked_at: row.get("yanked_at"),
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        if versions.is_empty() {
            return Err(RegistryError::NotFound(format!("plugin `{name}`")));
        }
        versions.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(versions)
    }

    /// Plugins matching every given filter, by name, each shown at its
    /// newest version that is not yanked (plugins with only yanked versions
    /// are not listed).
    pub async fn search(&self, search: &Search) -> Result<Vec<PluginSummary>, RegistryError> {
        let limit = search.limit.unwrap_or(MAX_LISTING).clamp(1, MAX_LISTING) as usize;
        let pattern = search.q.as_deref().map(|q| format!("%{}%", escape_like(q.trim())));
        let rows = sqlx::query(
            "SELECT name, publisher, version, description, category, license, published_at FROM plugin_versions
             WHERE yanked_at IS NULL
               AND (?1 IS NULL OR publisher = ?1)
               AND (?2 IS NULL OR category = ?2)
               AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR description LIKE ?3 ESCAPE '\\')",
        )
        .bind(search.publisher.as_deref())
        .bind(search.category.map(Category::as_str))
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        let mut newest: std::collections::BTreeMap<String, PluginSummary> = std::collections::BTreeMap::new();
        for row in &rows {
            let summary = PluginSummary {
                name: row.get("name"),
                publisher: row.get("publisher"),
                description: row.get("description"),
                category: category_of(row)?,
                license: row.get("license"),
                latest_version: row.get::<String, _>("version").parse().map_err(corrupt)?,
                published_at: row.get("published_at"),
            };
            match newest.get(&summary.name) {
                Some(seen) if seen.latest_version >= summary.latest_version => {}
                _ => {
                    newest.insert(summary.name.clone(), summary);
                }
            }
        }
        Ok(newest.into_values().take(limit).collect())
    }

    /// A published component's bytes, checked against its digest.
    pub async fn blob(&self, digest: &ComponentDigest) -> Result<Bytes, RegistryError> {
        self.blobs.get(digest).await?.ok_or_else(|| RegistryError::NotFound(format!("blob {digest}")))
    }
}

impl RegistryView for Registry {
    async fn publisher_key(&self, publisher: &str) -> Result<Option<PublisherKey>, String> {
        match self.publisher(publisher).await.map_err(|e| e.to_string())? {
            Some(found) if found.is_approved() => {
                PublisherKey::from_text(&found.public_key).map(Some).map_err(|e| e.to_string())
            }
            _ => Ok(None),
        }
    }

    async fn is_published(&self, name: &str, version: &semver::Version) -> Result<bool, String> {
        let row = sqlx::query("SELECT 1 FROM plugin_versions WHERE name = ? AND version = ?")
            .bind(name)
            .bind(version.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.is_some())
    }
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn publisher_of(row: &SqliteRow) -> Publisher {
    Publisher {
        name: row.get("name"),
        public_key: row.get("public_key"),
        registered_at: row.get("registered_at"),
        approved_at: row.get("approved_at"),
    }
}

fn category_of(row: &SqliteRow) -> Result<Category, RegistryError> {
    let text: String = row.get("category");
    Category::parse(&text).ok_or_else(|| corrupt(format!("unknown category `{text}`")))
}

fn detail_of(row: &SqliteRow) -> Result<VersionDetail, RegistryError> {
    // The manifest was checked at publish and is kept as signed; what it
    // says (capabilities, limits) is read back from it, not stored twice.
    let manifest_text: String = row.get("manifest");
    let manifest = crate::manifest::Manifest::parse(manifest_text.as_bytes()).map_err(corrupt)?;
    let mut detail = VersionDetail::new(
        &manifest,
        manifest_text,
        row.get("digest"),
        u64::try_from(row.get::<i64, _>("size")).map_err(corrupt)?,
        row.get("signature"),
        serde_json::from_str(&row.get::<String, _>("kinds")).map_err(corrupt)?,
        row.get("published_at"),
    );
    detail.yanked_at = row.get("yanked_at");
    Ok(detail)
}
