//! Keyset pagination, the shape of every list of the API (docs/api.md "Pagination").

use idgate_core::{Limit, Tenant, Timestamp};

use crate::db::{Arg, Pool, Row, query};
use crate::rows::CursorRow;
use crate::{StoreError, StoreResult};

/// A page of one tenant's rows of `table`, newest first, with optional filters. The cursor is the
/// `(created_at, id)` of the `starting_after` row, looked up within the same tenant (so another
/// tenant's id is `CursorNotFound`, like an unknown one), and the page over-fetches one row to
/// learn `has_more`. With the `(org_id, environment, created_at DESC, id DESC)` indexes a page
/// costs O(limit), whatever the table's size.
pub(crate) struct TenantPage {
    table: &'static str,
    tenant: Tenant,
    clauses: String,
    binds: Vec<Arg<'static>>,
}

impl TenantPage {
    pub(crate) fn new(table: &'static str, tenant: &Tenant) -> Self {
        Self {
            table,
            tenant: tenant.clone(),
            clauses: String::from("org_id = $1 AND environment = $2"),
            binds: vec![
                Arg::from(tenant.org_id.to_string()),
                Arg::from(tenant.environment.as_str()),
            ],
        }
    }

    /// Adds `AND <column> <op> $n` for a present value.
    pub(crate) fn filter(
        &mut self,
        column: &str,
        op: &str,
        value: Option<impl Into<Arg<'static>>>,
    ) -> &mut Self {
        if let Some(value) = value {
            self.binds.push(value.into());
            let n = self.binds.len();
            self.clauses.push_str(&format!(" AND {column} {op} ${n}"));
        }
        self
    }

    /// `created_from`/`created_to` as inclusive bounds.
    pub(crate) fn created_between(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> &mut Self {
        self.filter("created_at", ">=", from.map(Timestamp::unix_ms))
            .filter("created_at", "<=", to.map(Timestamp::unix_ms))
    }

    /// Starts after the row `id` of the same tenant.
    pub(crate) async fn after(&mut self, pool: &Pool, id: Option<&str>) -> StoreResult<()> {
        let Some(id) = id else { return Ok(()) };
        let cursor = query(format!(
            "SELECT created_at, id FROM {} WHERE id = $1 AND org_id = $2 AND environment = $3",
            self.table
        ))
        .bind(id)
        .bind(self.tenant.org_id.as_str())
        .bind(self.tenant.environment.as_str())
        .fetch_optional(pool)
        .await?;
        let (at, id) = cursor_or_error(cursor)?;
        self.binds.push(at.into());
        self.binds.push(id.into());
        let (a, b) = (self.binds.len() - 1, self.binds.len());
        self.clauses
            .push_str(&format!(" AND (created_at, id) < (${a}, ${b})"));
        Ok(())
    }

    /// The rows of the page plus one, if there is a next page.
    pub(crate) async fn fetch<R: Row>(
        mut self,
        pool: &Pool,
        columns: &str,
        limit: Limit,
    ) -> StoreResult<Vec<R>> {
        self.binds.push(Arg::from(i64::from(limit.get()) + 1));
        let text = format!(
            "SELECT {columns} FROM {} WHERE {} ORDER BY created_at DESC, id DESC LIMIT ${}",
            self.table,
            self.clauses,
            self.binds.len()
        );
        Ok(query(text).bind_all(self.binds).fetch_all(pool).await?)
    }
}

/// `(created_at, id)` of the cursor item, `CursorNotFound` if it is not in the list.
pub(crate) fn cursor_or_error(row: Option<CursorRow>) -> StoreResult<(i64, String)> {
    row.map(|r| (r.created_at, r.id))
        .ok_or(StoreError::CursorNotFound)
}
