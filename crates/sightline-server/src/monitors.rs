//! Monitors outside the request path: the monitors file (configuration as code) and
//! its export as Prometheus alerting rules.

pub mod doc;
pub mod file;
pub mod promql;
