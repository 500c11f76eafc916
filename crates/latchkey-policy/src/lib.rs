//! The AWS IAM policy language, and AWS's policy evaluation logic, for
//! latchkey.
//!
//! Pure: no I/O, no clock (the request brings `aws:CurrentTime`), no async.
//! [`Policy::parse`] reads and validates a document as AWS does on write;
//! [`evaluate`] decides a [`RequestContext`] against a [`PolicySet`] and says
//! which statements decided; [`Decision::denial_message`] renders AWS's
//! AccessDenied text.
//!
//! Every rule cites the AWS document it comes from; the corpus under
//! `tests/corpus/` checks them case by case.

mod arn;
mod condition;
mod context;
mod date;
mod error;
mod eval;
mod ip;
mod json;
mod pattern;
mod policy;
mod principal;

pub use condition::{Condition, Operator, OperatorName, SetOperator};
pub use context::{ContextKeys, Principal, PrincipalKind, RequestContext};
pub use error::PolicyError;
pub use eval::{evaluate, Decision, DecisionReason, MatchedStatement, PolicyId, PolicySet, PolicySource, PolicyType};
pub use policy::{Effect, Policy, PolicyKind, PolicyVersion, PrincipalElement, Statement};
pub use principal::{AwsPrincipal, Grant, PrincipalSet};
