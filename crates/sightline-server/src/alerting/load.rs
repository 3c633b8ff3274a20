//! The monitors file at start: every declared monitor is stored as owned by the file
//! (read-only through the API), and file monitors no longer declared are removed.

use crate::monitors::{doc, file};
use sightline_store::{Page, Store};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the monitors file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the monitors file {path} is not valid:\n{problems}")]
    Invalid { path: String, problems: String },
    #[error("monitors file {path}: {message}")]
    Model { path: String, message: String },
    #[error(transparent)]
    Store(#[from] sightline_store::StoreError),
}

/// Loads `path` into the store; returns how many monitors it declares. Blocking.
///
/// A monitor whose model does not exist is an error: silently skipping it would leave
/// the team believing it is watched. A monitor the API created under the same id is
/// taken over by the file.
pub fn load(store: &dyn Store, path: &Path, now_ms: i64) -> Result<usize, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    let monitors = file::parse(&text).map_err(|problems| LoadError::Invalid { path: shown.clone(), problems })?;
    for m in &monitors {
        let model = store.get_model(&m.model)?.ok_or_else(|| LoadError::Model {
            path: shown.clone(),
            message: format!("monitor {:?} watches model {:?}, which does not exist", m.id, m.model),
        })?;
        if let Err(problems) = m.check_against(&model.spec) {
            let problems = problems.into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>();
            return Err(LoadError::Model {
                path: shown.clone(),
                message: format!("monitor {:?}: {}", m.id, problems.join("; ")),
            });
        }
        store.upsert_file_monitor(&m.id, model.id, &doc::to_doc(m).to_string(), now_ms)?;
    }
    for stored in store.list_monitors(None, &Page::all())? {
        if stored.from_file && !monitors.iter().any(|m| m.id == stored.id) {
            store.delete_monitor(&stored.id)?;
        }
    }
    Ok(monitors.len())
}
