//! latchkey's audit trail: who was given what, who did what, and why it was
//! allowed.
//!
//! - [`event`]: one event, in CloudTrail's JSON shape, with secrets removed.
//! - [`store`]: the append-only log (rotated JSON-lines segments) and its
//!   index; queries by time, principal, key, session, object and decision.
//! - [`pipeline`]: the bounded queue between request handling and the log:
//!   the request path never waits on a sink, and what is dropped is counted.

pub mod event;
mod index_view;
pub mod pipeline;
pub mod store;

pub use event::{
    AuditEvent, Authorization, DecidingStatement, Resource, SessionAttributes, SessionContext, SessionIssuer,
    UserIdentity,
};
pub use pipeline::{AuditStats, Auditor, AuditorConfig, Sink};
pub use store::{AuditError, AuditReader, AuditWriter, Indexer, Query, Rotation};
