//! Success envelopes: `{"data":…,"error":null}`, lists adding
//! `"pagination":{"limit","has_more","next_cursor"}` (seeds 002 and 004). The same generic types
//! are serialised by the handlers and described in the OpenAPI document (`Data<SessionOut>`), so
//! the document cannot describe an envelope the server does not send; the error envelope is
//! [`crate::error::ErrorBody`].

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Page metadata of every list response; `next_cursor` is the id to pass as `starting_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Pagination {
    /// The maximum number of items returned.
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// Whether there are more items available after this page.
    pub has_more: bool,
    /// Cursor to use as `starting_after` to fetch the next page of results, or null if there are no more items.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A single object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
    /// Always null in a success response.
    #[schema(schema_with = crate::openapi::null_schema, required = true)]
    pub error: Option<()>,
}

impl<T: Serialize> Data<T> {
    pub fn new(data: T) -> Self {
        Self { data, error: None }
    }
}

impl<T: Serialize> IntoResponse for Data<T> {
    fn into_response(self) -> Response {
        json_response(&self)
    }
}

/// Room for a session object (about 2 KB with its share contract) without regrowing.
const JSON_BUFFER_START: usize = 4096;

/// The JSON body of a success envelope. Unlike `axum::Json`, which starts at 128 bytes and
/// doubles, the buffer starts large enough for a session, so rendering one copies it once.
fn json_response<T: Serialize>(body: &T) -> Response {
    let mut buf = Vec::with_capacity(JSON_BUFFER_START);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            buf,
        )
            .into_response(),
        Err(error) => crate::error::ApiError::internal(&error).into_response(),
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Always null in a success response.
    #[schema(schema_with = crate::openapi::null_schema, required = true)]
    pub error: Option<()>,
    pub pagination: Pagination,
}

impl<T: Serialize> Page<T> {
    /// `items` holds at most `limit` items; `has_more` says whether the store found one more.
    pub fn new(
        items: Vec<T>,
        limit: u32,
        has_more: bool,
        cursor_of: impl Fn(&T) -> String,
    ) -> Self {
        let next_cursor = if has_more {
            items.last().map(&cursor_of)
        } else {
            None
        };
        Self {
            data: items,
            error: None,
            pagination: Pagination {
                limit,
                has_more,
                next_cursor,
            },
        }
    }
}

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        json_response(&self)
    }
}
