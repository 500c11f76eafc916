//! The latchkey server: S3 (and, later, IAM and STS) on one port.
//!
//! Layers, top to bottom: [`server`] accepts connections; [`service`] takes a
//! request through [`auth`] (who), [`router`] (what), [`authz`] (may they)
//! and the [`s3`] handlers; handlers use `latchkey-storage`.

pub mod admin_client;
pub mod audit;
pub mod audit_cli;
pub mod auth;
pub mod authz;
pub mod body;
pub mod bootstrap;
pub mod checksum;
pub mod config;
pub mod error;
pub mod federation;
pub mod iam;
pub mod metrics;
pub mod monitoring;
pub mod response;
pub mod router;
pub mod s3;
pub mod server;
pub mod service;
pub mod sessions;
pub mod state;
pub mod sts;
pub mod xml;
