//! meterguard: checks rendered Kubernetes manifests so that the workloads that meter usage and
//! cost survive an upgrade. The pipeline reads top to bottom:
//! `input` -> `model` -> `classify` -> `rules` -> `report`, with `config` and `knowledge` beside.

pub mod check;
pub mod classify;
pub mod cli;
pub mod config;
pub mod coverage;
pub mod diff;
pub mod helm;
pub mod input;
pub mod knowledge;
pub mod model;
pub mod report;
pub mod rules;
