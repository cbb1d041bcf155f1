//! The body of `POST /v1/sessions` and its validation (docs/api.md "Create").
//!
//! Every field is read as raw JSON so that each rule can answer with its own message naming the
//! field, instead of a deserialiser's generic text. Unknown fields are rejected so typos surface.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;
use crate::id::EndpointId;
use crate::share::{ShareFields, ShareFieldsInput};
use crate::url::{HttpUrl, Scheme};

pub const MAX_REDIRECT_URL_LEN: usize = 2048;
pub const EXPIRES_IN_RANGE: std::ops::RangeInclusive<u32> = 300..=86_400;
pub const DEFAULT_EXPIRES_IN: u32 = 3600;
pub const MAX_METADATA_KEYS: usize = 20;
pub const MAX_METADATA_KEY_CHARS: usize = 40;
pub const MAX_METADATA_VALUE_CHARS: usize = 500;
pub const MAX_WEBHOOK_ENDPOINTS: usize = 16;

/// Free-form integrator data attached to a session: string keys to string values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(pub BTreeMap<String, String>);

/// Where a session's events go: every subscribed endpoint (`null`), one endpoint, or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WebhookTarget {
    #[default]
    AllSubscribed,
    One(EndpointId),
    Many(Vec<EndpointId>),
}

impl WebhookTarget {
    /// The endpoint ids named, empty for [`WebhookTarget::AllSubscribed`].
    pub fn endpoint_ids(&self) -> &[EndpointId] {
        match self {
            Self::AllSubscribed => &[],
            Self::One(id) => std::slice::from_ref(id),
            Self::Many(ids) => ids,
        }
    }

    /// Parses the stored or requested JSON form: `null`, a string, or an array of 1–16 strings.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Error> {
        let invalid = || {
            Error::invalid_param(
                "webhook_endpoint_id",
                "must be a webhook endpoint ID (whe_…), an array of 1 to 16 distinct IDs, or null",
            )
        };
        match value {
            serde_json::Value::Null => Ok(Self::AllSubscribed),
            serde_json::Value::String(s) => {
                EndpointId::parse(s).map(Self::One).map_err(|_| invalid())
            }
            serde_json::Value::Array(items) => {
                if items.is_empty() || items.len() > MAX_WEBHOOK_ENDPOINTS {
                    return Err(invalid());
                }
                let mut ids: Vec<EndpointId> = Vec::with_capacity(items.len());
                for item in items {
                    let serde_json::Value::String(s) = item else {
                        return Err(invalid());
                    };
                    let id = EndpointId::parse(s).map_err(|_| invalid())?;
                    if ids.contains(&id) {
                        return Err(invalid());
                    }
                    ids.push(id);
                }
                Ok(Self::Many(ids))
            }
            _ => Err(invalid()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::AllSubscribed => serde_json::Value::Null,
            Self::One(id) => serde_json::Value::String(id.to_string()),
            Self::Many(ids) => ids
                .iter()
                .map(|id| serde_json::Value::String(id.to_string()))
                .collect(),
        }
    }
}

impl Serialize for WebhookTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// The JSON body of `POST /v1/sessions`, as sent. Deserialise it from the request body (an empty
/// body is `CreateSessionRequest::default()`), then call [`CreateSessionRequest::validate`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    #[serde(default, deserialize_with = "present")]
    pub redirect_url: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub share_fields: Option<ShareFieldsInput>,
    #[serde(default, deserialize_with = "present")]
    pub webhook_endpoint_id: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub expires_in: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub metadata: Option<serde_json::Value>,
}

/// `Some` whenever the field is present, even as `null`, so `share_fields: null` can be refused.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSpec {
    pub redirect_url: Option<String>,
    pub share_fields: ShareFields,
    pub webhook_endpoint_id: WebhookTarget,
    pub expires_in_secs: u32,
    pub metadata: Metadata,
}

impl CreateSessionRequest {
    /// Applies every rule of docs/api.md "Create"; the first failing field (in the order of the
    /// table) decides. Whether named webhook endpoints exist is checked by the store, in the create
    /// transaction.
    pub fn validate(&self) -> Result<SessionSpec, Error> {
        let redirect_url = match &self.redirect_url {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(validate_redirect_url(s)?),
            Some(_) => return Err(redirect_url_error()),
        };
        let share_fields = match &self.share_fields {
            None => ShareFields::defaults(),
            Some(input) => ShareFields::from_request(input)?,
        };
        let webhook_endpoint_id = match &self.webhook_endpoint_id {
            None => WebhookTarget::AllSubscribed,
            Some(v) => WebhookTarget::from_json(v)?,
        };
        let expires_in_secs = match &self.expires_in {
            None | Some(serde_json::Value::Null) => DEFAULT_EXPIRES_IN,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| EXPIRES_IN_RANGE.contains(n))
                .ok_or_else(|| {
                    Error::invalid_param(
                        "expires_in",
                        "must be an integer number of seconds between 300 and 86400",
                    )
                })?,
        };
        let metadata = match &self.metadata {
            None | Some(serde_json::Value::Null) => Metadata::default(),
            Some(v) => validate_metadata(v)?,
        };
        Ok(SessionSpec {
            redirect_url,
            share_fields,
            webhook_endpoint_id,
            expires_in_secs,
            metadata,
        })
    }
}

fn redirect_url_error() -> Error {
    Error::invalid_param(
        "redirect_url",
        "must be an absolute https URL (or http to localhost) of at most 2048 characters",
    )
}

/// Absolute `https:` URL, or `http:` to `localhost`/loopback, at most 2048 characters, without
/// credentials, whitespace or control characters. Returns the URL as given.
pub fn validate_redirect_url(url: &str) -> Result<String, Error> {
    let parsed = HttpUrl::parse(url, MAX_REDIRECT_URL_LEN).map_err(|_| redirect_url_error())?;
    if parsed.scheme == Scheme::Http && !parsed.is_loopback() {
        return Err(redirect_url_error());
    }
    Ok(url.to_owned())
}

fn validate_metadata(value: &serde_json::Value) -> Result<Metadata, Error> {
    let invalid = || {
        Error::invalid_param(
            "metadata",
            "must be an object of at most 20 keys of 1 to 40 characters with string values of at most 500 characters",
        )
    };
    let serde_json::Value::Object(obj) = value else {
        return Err(invalid());
    };
    if obj.len() > MAX_METADATA_KEYS {
        return Err(invalid());
    }
    let mut out = BTreeMap::new();
    for (key, value) in obj {
        let serde_json::Value::String(value) = value else {
            return Err(invalid());
        };
        let key_chars = key.chars().count();
        if key_chars == 0
            || key_chars > MAX_METADATA_KEY_CHARS
            || value.chars().count() > MAX_METADATA_VALUE_CHARS
        {
            return Err(invalid());
        }
        out.insert(key.clone(), value.clone());
    }
    Ok(Metadata(out))
}

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;
