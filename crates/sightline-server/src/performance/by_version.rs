//! A window's outcomes for each version of a model that had traffic in it, from the
//! outcome tallies: what the performance gauges and performance monitors show per
//! version, at the cost of the buckets whatever the traffic.

use super::tallied::{self, TalliedWindow};
use crate::analysis::Retention;
use sightline_store::{Store, StoreError, VersionRecord};

/// Versions read per page while looking for the ones with traffic.
const VERSION_PAGE: usize = 200;

/// `[from, to)` of every version of `model_id` with at least one prediction in it, in
/// version-name order. A version without traffic costs one read of bucket summaries.
pub fn windows(
    store: &dyn Store,
    model_id: i64,
    window: (i64, i64),
    now: i64,
    retention: Retention,
) -> Result<Vec<(VersionRecord, TalliedWindow)>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let versions = store.list_versions(model_id, after.as_deref(), VERSION_PAGE)?;
        for version in &versions {
            if tallied::summary(store, model_id, Some(version.id), window, now, retention)?.predictions == 0 {
                continue;
            }
            let w = tallied::read(store, model_id, Some(version.id), window, now, retention)?;
            out.push((version.clone(), w));
        }
        match versions.last() {
            Some(last) if versions.len() == VERSION_PAGE => after = Some(last.name.clone()),
            _ => return Ok(out),
        }
    }
}
