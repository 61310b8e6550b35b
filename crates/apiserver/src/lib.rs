//! The embedded Kubernetes API server: everynode's etcd plus kube-apiserver for the
//! objects DaemonSets need.
//!
//! - [`store`]: durable object store (redb) with one global revision, group commit, and
//!   a watch cache;
//! - [`registry`]: the resources served and their discovery metadata;
//! - [`rest`]: the REST verbs (get, list, watch, create, update, patch, delete) and the
//!   per-resource strategies (defaulting, validation, status subresources);
//! - [`patch`]: JSON patch, merge patch, strategic merge patch and apply;
//! - [`strict`]: unknown-field detection for `fieldValidation=Strict`;
//! - [`discovery`], [`openapi`], [`table`]: what kubectl needs beyond plain REST;
//! - [`tls`] and [`auth`]: certificates, kubeconfig and bearer-token authentication;
//! - [`server`]: starting and stopping the whole thing.

pub mod auth;
pub mod discovery;
pub mod openapi;
pub mod patch;
mod protobuf;
pub mod registry;
pub mod rest;
pub mod server;
pub mod store;
pub mod strict;
pub mod table;
pub mod tls;

pub use server::{ApiServer, ApiServerConfig, ApiServerError};
