//! The two migration trees (`migrations/sqlite`, `migrations/postgres`) define the same schema:
//! the same tables, the same columns with the same kind of type, nullability and primary key,
//! and the same indexes (columns, order, uniqueness, predicate). Read from live databases after
//! the migrations ran, not from the files, so a statement that one dialect interprets differently
//! is caught as well as a forgotten one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use std::collections::BTreeSet;

use idgate_store::{Pool, Store};

/// `table.column type [not null] [pk n]`, the type normalised to what the store relies on.
type Columns = BTreeSet<String>;
/// `table (col [DESC], …) [unique] [where …]`, by what the index does, not how it is named:
/// SQLite and PostgreSQL name the indexes behind `PRIMARY KEY` and `UNIQUE` differently.
type Indexes = BTreeSet<String>;

#[derive(Debug, PartialEq, Eq)]
struct Schema {
    tables: BTreeSet<String>,
    columns: Columns,
    indexes: Indexes,
    /// The indexes the migrations create by name (`CREATE INDEX`).
    named_indexes: BTreeSet<String>,
}

/// The kinds the store reads and writes; the dialects spell them differently.
fn normalise_type(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => "text".to_owned(),
        "bigint" | "int8" => "bigint".to_owned(),
        "integer" | "int" | "int4" => "integer".to_owned(),
        "boolean" | "bool" => "boolean".to_owned(),
        "blob" | "bytea" => "blob".to_owned(),
        other => other.to_owned(),
    }
}

/// A partial index's predicate without the dialects' parentheses, spacing and case.
fn normalise_predicate(predicate: &str) -> String {
    predicate
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .collect::<String>()
        .to_ascii_lowercase()
}

fn index_line(table: &str, columns: &[String], unique: bool, predicate: Option<&str>) -> String {
    let mut line = format!("{table} ({})", columns.join(", "));
    if unique {
        line.push_str(" unique");
    }
    if let Some(p) = predicate {
        line.push_str(&format!(" where {}", normalise_predicate(p)));
    }
    line
}

async fn sqlite_schema(pool: &sqlx::SqlitePool) -> Schema {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("sqlite tables");
    let mut schema = Schema {
        tables: tables.iter().map(|(t,)| t.clone()).collect(),
        columns: BTreeSet::new(),
        indexes: BTreeSet::new(),
        named_indexes: BTreeSet::new(),
    };
    for (table,) in &tables {
        let columns: Vec<(String, String, bool, i64)> =
            sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(table)
                .fetch_all(pool)
                .await
                .expect("sqlite columns");
        for (name, declared, not_null, pk) in columns {
            // SQLite lets a non-INTEGER primary key hold NULL unless declared NOT NULL; the
            // migrations declare it, so nullability is compared as declared.
            let mut line = format!("{table}.{name} {}", normalise_type(&declared));
            if not_null {
                line.push_str(" not null");
            }
            if pk > 0 {
                line.push_str(&format!(" pk {pk}"));
            }
            schema.columns.insert(line);
        }
        let indexes: Vec<(String, bool, String, bool)> =
            sqlx::query_as("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
                .bind(table)
                .fetch_all(pool)
                .await
                .expect("sqlite indexes");
        for (name, unique, origin, partial) in indexes {
            if origin == "pk" {
                continue;
            }
            let parts: Vec<(String, bool)> = sqlx::query_as(
                "SELECT name, \"desc\" FROM pragma_index_xinfo($1) WHERE key ORDER BY seqno",
            )
            .bind(&name)
            .fetch_all(pool)
            .await
            .expect("sqlite index columns");
            let columns: Vec<String> = parts
                .into_iter()
                .map(|(c, desc)| if desc { format!("{c} DESC") } else { c })
                .collect();
            let predicate = if partial {
                let (sql,): (String,) = sqlx::query_as(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
                )
                .bind(&name)
                .fetch_one(pool)
                .await
                .expect("sqlite index sql");
                let at = sql
                    .to_ascii_uppercase()
                    .rfind(" WHERE ")
                    .expect("a partial index has a WHERE clause");
                Some(sql[at + " WHERE ".len()..].trim_end_matches(';').to_owned())
            } else {
                None
            };
            schema
                .indexes
                .insert(index_line(table, &columns, unique, predicate.as_deref()));
            if origin == "c" {
                schema.named_indexes.insert(name);
            }
        }
    }
    schema
}

/// `(table, index, unique, columns, predicate, backs a constraint)`.
type PgIndexRow = (String, String, bool, Vec<String>, Option<String>, bool);

async fn postgres_schema(pool: &sqlx::PgPool) -> Schema {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("postgres tables");
    let columns: Vec<(String, String, String, bool, Option<i32>)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable = 'NO', \
         (SELECT k.ordinal_position::int FROM information_schema.table_constraints tc \
          JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name \
          AND k.table_schema = tc.table_schema AND k.table_name = tc.table_name \
          WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema \
          AND tc.table_name = c.table_name AND k.column_name = c.column_name) \
         FROM information_schema.columns c WHERE c.table_schema = current_schema() \
         AND c.table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("postgres columns");
    let indexes: Vec<PgIndexRow> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, ix.indisunique, \
         ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k + 1, true) \
               || CASE WHEN ix.indoption[k] & 1 = 1 THEN ' DESC' ELSE '' END \
               FROM generate_subscripts(ix.indkey, 1) AS k ORDER BY k), \
         pg_get_expr(ix.indpred, ix.indrelid), \
         EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND NOT ix.indisprimary AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("postgres indexes");
    Schema {
        tables: tables.into_iter().map(|(t,)| t).collect(),
        columns: columns
            .into_iter()
            .map(|(table, name, data_type, not_null, pk)| {
                let mut line = format!("{table}.{name} {}", normalise_type(&data_type));
                if not_null {
                    line.push_str(" not null");
                }
                if let Some(pk) = pk {
                    line.push_str(&format!(" pk {pk}"));
                }
                line
            })
            .collect(),
        named_indexes: indexes
            .iter()
            .filter(|(.., backs_constraint)| !backs_constraint)
            .map(|(_, name, ..)| name.clone())
            .collect(),
        indexes: indexes
            .iter()
            .map(|(table, _, unique, columns, predicate, _)| {
                index_line(table, columns, *unique, predicate.as_deref())
            })
            .collect(),
    }
}

#[tokio::test]
async fn the_sqlite_and_postgres_migrations_define_the_same_schema() {
    let Some(url) = idgate_testkit::postgres_url() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Store::open_sqlite(&dir.path().join("idgate.db"))
        .await
        .expect("open sqlite");
    let database = idgate_testkit::postgres::FreshDatabase::create(&url, "idgate_migrations");
    let postgres = Store::connect_postgres(common::pg_options(database.url()))
        .await
        .expect("connect postgres");

    let (Pool::Sqlite(lite_pool), Pool::Postgres(pg_pool)) = (sqlite.pool(), postgres.pool())
    else {
        panic!("each store runs on the backend it was opened on");
    };
    let lite = sqlite_schema(lite_pool).await;
    let pg = postgres_schema(pg_pool).await;

    assert!(lite.tables.len() >= 8, "read no schema: {:?}", lite.tables);
    assert!(
        lite.columns.len() >= 50,
        "read no columns: {:?}",
        lite.columns
    );
    assert!(
        lite.indexes.len() >= 15,
        "read no indexes: {:?}",
        lite.indexes
    );
    assert_eq!(lite.tables, pg.tables, "tables");
    assert_eq!(
        lite.columns.difference(&pg.columns).collect::<Vec<_>>(),
        pg.columns.difference(&lite.columns).collect::<Vec<_>>(),
        "columns only in SQLite (left) vs only in PostgreSQL (right)"
    );
    assert_eq!(
        lite.indexes.difference(&pg.indexes).collect::<Vec<_>>(),
        pg.indexes.difference(&lite.indexes).collect::<Vec<_>>(),
        "indexes only in SQLite (left) vs only in PostgreSQL (right)"
    );
    assert_eq!(lite.named_indexes, pg.named_indexes, "index names");
}
