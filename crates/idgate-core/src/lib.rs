//! idgate-core: the domain of idgate with no I/O, no async and no database.
//!
//! Every rule of `docs/api.md` (and the session rules of `docs/verify.md`) that does not need a
//! network or a disk lives here: typed ids, timestamps, the session and attempt state machines, the
//! share contract, API keys and scopes, events, pagination and the one error catalog that the HTTP
//! layer renders. Time is always passed in (`now: Timestamp`); nothing here reads a clock. The only
//! outside resource touched is the operating system's CSPRNG, for new ids and secrets.

pub mod api_key;
pub mod create;
pub mod error;
pub mod event;
pub mod id;
pub mod idempotency;
pub mod mac;
pub mod page;
pub mod secret;
pub mod session;
pub mod share;
pub mod time;
pub mod url;
pub mod webhook;

pub use api_key::{
    ApiKey, ApiKeyHash, ApiKeyPatch, ApiKeySecret, Environment, KeyAudience, Scope, Scopes,
};
pub use create::{CreateSessionRequest, Metadata, SessionSpec, WebhookTarget};
pub use error::{Error, ErrorCode};
pub use event::{Event, EventType};
pub use id::{
    ApiKeyId, AttemptId, DeliveryId, EncryptionKeyId, EndpointId, EventId, OrgId, SessionId,
    TrustAnchorId, TrustCrlId,
};
pub use idempotency::{IdempotencyKey, RequestFingerprint};
pub use page::{Limit, Page, PageRequest};
pub use secret::Secret;
pub use session::{
    Attempt, AttemptPhase, AttemptStatus, ClientProgress, FailureCode, Organization, Session,
    SessionFilter, SessionStatus, Tenant, TransitionError, TryKind,
};
pub use share::{ShareField, ShareFields, ShareFieldsInput, ShareSource};
pub use time::{Clock, SystemClock, Timestamp};
pub use webhook::{
    CreateEndpointRequest, Delivery, DeliveryAttempt, DeliveryFilter, DeliveryStatus,
    DisabledReason, EncryptionKey, EndpointPatch, EndpointSpec, EventFilter, PreviousSecret,
    SealedSecret, Subscription, UpdateEndpointRequest, WebhookEndpoint,
};
