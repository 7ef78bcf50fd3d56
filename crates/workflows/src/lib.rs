//! Step Functions: the Amazon States Language ([`asl`]: definitions and their
//! validation; [`path`], [`intrinsics`]: the data-flow language) run by the
//! [`engine`], with durable executions and the Step Functions API's
//! operations in [`service`].

pub mod asl;
pub mod engine;
pub mod integrations;
pub mod intrinsics;
pub mod jsonata;
pub mod path;
pub mod service;
pub mod time;

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod props;
