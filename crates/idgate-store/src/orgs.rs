//! Organizations and their API keys.
//!
//! A key is stored as the keyed hash of its secret, never the secret (docs/api.md
//! "Authentication"); authentication answers from a cache of recently read keys (`key_cache.rs`).

use std::sync::LazyLock;

use idgate_core::{
    ApiKey, ApiKeyHash, ApiKeyId, ApiKeyPatch, KeyAudience, OrgId, Organization, Page, PageRequest,
    Timestamp,
};

use crate::db::query;
use crate::page::cursor_or_error;
use crate::rows::{API_KEY_COLUMNS, ApiKeyRow, CursorRow, OrganizationRow, scopes_json};
use crate::{Store, StoreError, StoreResult};

/// The first point read of every authenticated request; each backend runs it its fastest way
/// (`Store::read_api_key_by_hash`), the text is the same for both.
pub(crate) static API_KEY_BY_HASH: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"));

/// Authentication records a key's use at most this often, so reads do not become writes.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// The audience's environments as the two values of an `environment IN ($a, $b)` clause (the
/// single environment twice when there is one), so the SQL text is the same for every caller.
fn audience_environments(audience: &KeyAudience) -> (&'static str, &'static str) {
    let envs = audience.environments();
    let first = envs.first().map_or("", |e| e.as_str());
    let last = envs.last().map_or("", |e| e.as_str());
    (first, last)
}

impl Store {
    /// Inserts an organization; `Conflict` if the id exists.
    pub async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.as_str())
            .bind(org.name.as_str())
            .bind(org.created_at.unix_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if StoreError::is_unique_violation(&e) {
                    StoreError::Conflict("organization exists")
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    pub async fn get_organization(&self, id: &OrgId) -> StoreResult<Organization> {
        query("SELECT id, name, created_at FROM organizations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional::<OrganizationRow>(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_domain()
    }

    /// All organizations, oldest first (operator CLI; not exposed over HTTP).
    pub async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        query("SELECT id, name, created_at FROM organizations ORDER BY created_at, id")
            .fetch_all::<OrganizationRow>(&self.pool)
            .await?
            .into_iter()
            .map(OrganizationRow::into_domain)
            .collect()
    }

    /// Stores a key record with the keyed hash of its secret (never the secret).
    pub async fn create_api_key(&self, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()> {
        query(
            "INSERT INTO api_keys (id, org_id, name, environment, scopes, enabled, key_hash, key_prefix, created_at, \
             updated_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(key.id.as_str())
        .bind(key.org_id.as_str())
        .bind(key.name.as_str())
        .bind(key.environment.as_str())
        .bind(scopes_json(&key.scopes))
        .bind(key.enabled)
        .bind(hash.as_str())
        .bind(key.key_prefix.as_str())
        .bind(key.created_at.unix_ms())
        .bind(key.updated_at.unix_ms())
        .bind(key.last_used_at.map(Timestamp::unix_ms))
        .execute(&self.pool)
        .await
        .map_err(|e| if StoreError::is_unique_violation(&e) { StoreError::Conflict("api key exists") } else { e.into() })?;
        Ok(())
    }

    /// The keys of `audience` (its organization, and for a test-mode caller only test keys),
    /// newest first, keyset-paginated on `(created_at, id)`. Get, update and delete answer
    /// `NotFound` for a key outside the audience, as for one never issued.
    pub async fn list_api_keys(
        &self,
        audience: &KeyAudience,
        page: &PageRequest<ApiKeyId>,
    ) -> StoreResult<Page<ApiKey>> {
        let fetch = i64::from(page.limit.get()) + 1;
        let (env_a, env_b) = audience_environments(audience);
        let rows = match &page.starting_after {
            None => {
                query(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                ))
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(fetch)
                .fetch_all::<ApiKeyRow>(&self.pool)
                .await?
            }
            Some(after) => {
                let cursor = query(
                    "SELECT created_at, id FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) AND id = $4",
                )
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(after.as_str())
                .fetch_optional::<CursorRow>(&self.pool)
                .await?;
                let (at, id) = cursor_or_error(cursor)?;
                query(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) \
                     AND (created_at, id) < ($4, $5) ORDER BY created_at DESC, id DESC LIMIT $6"
                ))
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(at)
                .bind(id)
                .bind(fetch)
                .fetch_all::<ApiKeyRow>(&self.pool)
                .await?
            }
        };
        let keys = rows
            .into_iter()
            .map(ApiKeyRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(keys, page.limit))
    }

    pub async fn get_api_key(&self, audience: &KeyAudience, id: &ApiKeyId) -> StoreResult<ApiKey> {
        let (env_a, env_b) = audience_environments(audience);
        query(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) AND id = $4"
        ))
        .bind(audience.org_id.as_str())
        .bind(env_a)
        .bind(env_b)
        .bind(id.as_str())
        .fetch_optional::<ApiKeyRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    /// Applies the present fields of `patch`; returns the updated key.
    pub async fn update_api_key(
        &self,
        audience: &KeyAudience,
        id: &ApiKeyId,
        patch: &ApiKeyPatch,
        now: Timestamp,
    ) -> StoreResult<ApiKey> {
        let (env_a, env_b) = audience_environments(audience);
        let updated = query(format!(
            "UPDATE api_keys SET name = COALESCE($1, name), scopes = COALESCE($2, scopes), \
             enabled = COALESCE($3, enabled), updated_at = $4 \
             WHERE org_id = $5 AND environment IN ($6, $7) AND id = $8 RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(patch.name.as_deref())
        .bind(patch.scopes.as_ref().map(scopes_json))
        .bind(patch.enabled)
        .bind(now.unix_ms())
        .bind(audience.org_id.as_str())
        .bind(env_a)
        .bind(env_b)
        .bind(id.as_str())
        .fetch_optional::<ApiKeyRow>(&self.pool)
        .await;
        self.keys.clear();
        updated?.ok_or(StoreError::NotFound)?.into_domain()
    }

    pub async fn delete_api_key(&self, audience: &KeyAudience, id: &ApiKeyId) -> StoreResult<()> {
        let (env_a, env_b) = audience_environments(audience);
        let done =
            query("DELETE FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) AND id = $4")
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(id.as_str())
                .execute(&self.pool)
                .await;
        self.keys.clear();
        if done? == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// The key with this hash, enabled or not (the caller answers 401 for a disabled key), and
    /// records its use at most once a minute so that authentication is not a write per request.
    /// Answers from a cache of recently read keys: a change made through this store is seen by
    /// the next call, one made by another node or process within a second (`key_cache.rs`).
    pub async fn authenticate_api_key(
        &self,
        hash: &ApiKeyHash,
        now: Timestamp,
    ) -> StoreResult<Option<ApiKey>> {
        let read_started = self.keys.generation();
        let (key, cached) = match self.keys.get(hash) {
            Some(key) => (key, true),
            None => match self.read_api_key_by_hash(hash).await? {
                Some(row) => (row.into_domain()?, false),
                None => return Ok(None),
            },
        };
        let stale = key
            .last_used_at
            .is_none_or(|t| t.unix_ms() < now.unix_ms() - LAST_USED_GRANULARITY_MS);
        if !(key.enabled && stale) {
            if !cached {
                self.keys.insert(read_started, hash.clone(), key.clone());
            }
            return Ok(Some(key));
        }
        // Record the use and cache the row as the database has it after the write, never the
        // copy in hand: that copy may be a cached one another node has since changed or deleted.
        let recorded = query(format!(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3) RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(now.unix_ms())
        .bind(key.id.as_str())
        .bind(now.unix_ms() - LAST_USED_GRANULARITY_MS)
        .fetch_optional::<ApiKeyRow>(&self.pool)
        .await?;
        // No row: the key is gone, or another node recorded a use within the minute; the
        // database's current row (if any) decides.
        let row = match recorded {
            Some(row) => Some(row),
            None => self.read_api_key_by_hash(hash).await?,
        };
        let Some(row) = row else {
            self.keys.remove(hash);
            return Ok(None);
        };
        let key = row.into_domain()?;
        self.keys.insert(read_started, hash.clone(), key.clone());
        Ok(Some(key))
    }
}
