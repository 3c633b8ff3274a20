//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Each entry is applied once, in order, inside its own transaction. Entries are never
//! edited after release; a change is a new entry.

use crate::{Result, StoreError};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: models, versions, the prediction event log and labels.
    "CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_ms INTEGER NOT NULL,
        UNIQUE (model_id, name)
    );
    -- seq is the rowid: the append order of the event log.
    CREATE TABLE predictions (
        seq INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        pred_class TEXT,
        pred_num REAL,
        scores BLOB,
        latency_ms REAL,
        features BLOB NOT NULL,
        tags TEXT,
        error_type TEXT,
        error_message TEXT
    );
    CREATE UNIQUE INDEX predictions_by_request ON predictions (model_id, request_id);
    CREATE INDEX predictions_by_time ON predictions (model_id, ts_ms);
    CREATE TABLE labels (
        model_id INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        label_class TEXT,
        label_num REAL,
        ts_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (model_id, request_id)
    ) WITHOUT ROWID;",
    // 2: the access layer (projects own models; users, memberships, tokens, sessions)
    // and the hash-chained audit log. Existing models move to the default project.
    "CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL
    );
    INSERT INTO projects (id, name, created_ms) VALUES (1, 'default', 0);
    ALTER TABLE models ADD COLUMN project_id INTEGER NOT NULL DEFAULT 1 REFERENCES projects(id);
    CREATE INDEX models_by_project ON models (project_id, name);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        is_admin INTEGER NOT NULL DEFAULT 0,
        disabled INTEGER NOT NULL DEFAULT 0,
        totp_secret BLOB,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE memberships (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        role TEXT NOT NULL,
        PRIMARY KEY (project_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX memberships_by_user ON memberships (user_id);
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        display_prefix TEXT NOT NULL,
        name TEXT NOT NULL,
        owner_user_id INTEGER REFERENCES users(id),
        project_id INTEGER REFERENCES projects(id),
        role TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        revoked_ms INTEGER
    );
    CREATE TABLE sessions (
        hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        csrf_hash BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL,
        hash BLOB NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (ts_ms);",
    // 3: encryption at rest. Feature blobs and tags are sealed from now on (tags become
    // BLOBs in their TEXT column; SQLite stores a blob as given). Rows stored before
    // stay readable as plaintext only up to the seq recorded here, until the server's
    // re-encryption pass has sealed them; the pass's progress is kept here too.
    "CREATE TABLE encryption_state (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO encryption_state (name, value)
        SELECT 'plaintext_max_seq', coalesce(max(seq), 0) FROM predictions;",
    // 4: exceptions grouped into issues. Each issue keeps its counts per version and per
    // hour, and a bounded sample of recent events (details sealed: they hold inputs).
    "CREATE TABLE issues (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        fingerprint TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        count INTEGER NOT NULL,
        status TEXT NOT NULL,
        status_changed_ms INTEGER NOT NULL,
        regressions INTEGER NOT NULL DEFAULT 0,
        UNIQUE (model_id, fingerprint)
    );
    CREATE INDEX issues_by_last_seen ON issues (model_id, last_seen_ms);
    CREATE TABLE issue_versions (
        issue_id INTEGER NOT NULL REFERENCES issues(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        count INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (issue_id, version_id)
    ) WITHOUT ROWID;
    CREATE TABLE issue_hours (
        issue_id INTEGER NOT NULL REFERENCES issues(id),
        hour_ms INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (issue_id, hour_ms)
    ) WITHOUT ROWID;
    CREATE TABLE error_events (
        seq INTEGER PRIMARY KEY,
        issue_id INTEGER NOT NULL REFERENCES issues(id),
        model_id INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        request_id TEXT,
        version_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        detail BLOB
    );
    CREATE UNIQUE INDEX error_events_by_id ON error_events (model_id, event_id);
    CREATE INDEX error_events_by_issue ON error_events (issue_id, seq);",
    // 5: profiles the aggregator folds from the event log, per (model, version, bucket)
    // at minute, hour and day resolution; the watermark saying which events they hold;
    // reference profiles per model version; a model's drift settings. Profile bytes are
    // sealed: they hold values.
    "CREATE TABLE profiles (
        model_id INTEGER NOT NULL,
        resolution_ms INTEGER NOT NULL,
        bucket_ms INTEGER NOT NULL,
        version_id INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (model_id, resolution_ms, bucket_ms, version_id)
    ) WITHOUT ROWID;
    CREATE TABLE aggregator_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        watermark INTEGER NOT NULL
    );
    INSERT INTO aggregator_state (id, watermark) VALUES (1, 0);
    CREATE TABLE reference_profiles (
        model_id INTEGER NOT NULL REFERENCES models(id),
        version TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        source TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (model_id, version)
    ) WITHOUT ROWID;
    CREATE TABLE drift_settings (
        model_id INTEGER PRIMARY KEY REFERENCES models(id),
        settings TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );",
    // 6: alerting. Monitors (their definition as the API's JSON document; `from_file`
    // ones are owned by the monitors file), one alert row per (monitor, series) with its
    // state and acknowledgement, the alert event history, silences, notification
    // channels (configuration sealed: it holds URLs with tokens and SMTP passwords), the
    // delivery log (one row per attempt), and incidents with their links and timeline.
    "CREATE TABLE monitors (
        id TEXT PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        spec TEXT NOT NULL,
        from_file INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX monitors_by_model ON monitors (model_id);
    CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY,
        monitor_id TEXT NOT NULL,
        labels TEXT NOT NULL,
        state TEXT NOT NULL,
        since_ms INTEGER,
        fired_ms INTEGER,
        resolved_ms INTEGER,
        last_eval_ms INTEGER NOT NULL,
        value REAL,
        silenced INTEGER NOT NULL DEFAULT 0,
        acknowledged_ms INTEGER,
        acknowledged_by TEXT
    ) WITHOUT ROWID;
    CREATE INDEX alerts_by_monitor ON alerts (monitor_id);
    CREATE TABLE alert_events (
        seq INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        value REAL,
        silenced INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX alert_events_by_alert ON alert_events (fingerprint, seq);
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        matchers TEXT NOT NULL,
        starts_ms INTEGER NOT NULL,
        ends_ms INTEGER NOT NULL,
        comment TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX silences_by_end ON silences (ends_ms);
    CREATE TABLE channels (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        min_severity TEXT NOT NULL,
        config BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        notification TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        kind TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX deliveries_by_channel ON deliveries (channel_id, seq);
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        title TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        assignee TEXT,
        monitor_id TEXT,
        runbook_url TEXT,
        postmortem TEXT NOT NULL DEFAULT '',
        opened_ms INTEGER NOT NULL,
        acknowledged_ms INTEGER,
        resolved_ms INTEGER
    );
    CREATE INDEX incidents_by_project ON incidents (project_id, id);
    CREATE INDEX incidents_open_by_monitor ON incidents (monitor_id, status);
    CREATE TABLE incident_links (
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        PRIMARY KEY (incident_id, kind, target)
    ) WITHOUT ROWID;
    CREATE TABLE incident_timeline (
        seq INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        ts_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, seq);",
    // 7: retraining policies (the API's JSON document, when last evaluated and fired)
    // and the triggers they recorded (kept when their policy is deleted).
    "CREATE TABLE retraining_policies (
        id TEXT PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        spec TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        last_evaluated_ms INTEGER,
        last_fired_ms INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX retraining_policies_by_model ON retraining_policies (model_id);
    CREATE TABLE retraining_triggers (
        seq INTEGER PRIMARY KEY,
        policy_id TEXT NOT NULL,
        model_id INTEGER NOT NULL,
        version TEXT,
        from_ms INTEGER NOT NULL,
        to_ms INTEGER NOT NULL,
        reasons TEXT NOT NULL,
        export_path TEXT NOT NULL,
        fired_ms INTEGER NOT NULL,
        delivery TEXT
    );
    CREATE INDEX retraining_triggers_by_model ON retraining_triggers (model_id, seq);",
    // 8: data lineage (OpenLineage events folded into a graph).
    "CREATE TABLE lineage_events (
        seq INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        received_ms INTEGER NOT NULL,
        event_time_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE lineage_nodes (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        facets TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        UNIQUE (project_id, kind, namespace, name)
    );
    CREATE TABLE lineage_edges (
        src INTEGER NOT NULL,
        dst INTEGER NOT NULL,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        PRIMARY KEY (src, dst)
    ) WITHOUT ROWID;
    CREATE INDEX lineage_edges_by_dst ON lineage_edges (dst, src);
    CREATE TABLE lineage_runs (
        project_id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        job_id INTEGER NOT NULL,
        state TEXT NOT NULL,
        started_ms INTEGER,
        ended_ms INTEGER,
        updated_ms INTEGER NOT NULL,
        facets TEXT NOT NULL,
        PRIMARY KEY (project_id, run_id)
    ) WITHOUT ROWID;
    CREATE INDEX lineage_runs_by_job ON lineage_runs (job_id, updated_ms);
    CREATE TABLE lineage_run_io (
        project_id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        dataset_id INTEGER NOT NULL,
        direction TEXT NOT NULL,
        version TEXT,
        PRIMARY KEY (project_id, run_id, dataset_id, direction)
    ) WITHOUT ROWID;
    CREATE TABLE lineage_columns (
        dataset_id INTEGER NOT NULL,
        field TEXT NOT NULL,
        source_id INTEGER NOT NULL,
        source_field TEXT NOT NULL,
        transformation TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, field, source_id, source_field)
    ) WITHOUT ROWID;",
    // 9: what each version is explained with (a sealed model file or an endpoint).
    "CREATE TABLE explainers (
        version_id INTEGER PRIMARY KEY REFERENCES versions(id),
        features TEXT NOT NULL,
        kind TEXT NOT NULL,
        format TEXT,
        sha256 TEXT,
        data BLOB,
        url TEXT,
        timeout_ms INTEGER,
        max_calls INTEGER,
        batch_rows INTEGER,
        updated_ms INTEGER NOT NULL,
        updated_by TEXT NOT NULL
    );",
    // 10: attributions a client logged with its prediction (encoded as scores are).
    "ALTER TABLE predictions ADD COLUMN attributions BLOB;",
    // 11: the model registry and MLflow tracking. Registered models and versions are
    // the rows of `models` and `versions`; these tables add what a registry keeps about
    // them (tags, aliases, stages, training parameters and metrics, data versions, the
    // transition history) and MLflow's experiments and runs. Experiment 0 is MLflow's
    // default experiment, in the default project. Artifact bytes live in files named by
    // their SHA-256; `artifacts` maps paths to them.
    "CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL UNIQUE,
        lifecycle TEXT NOT NULL DEFAULT 'active',
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    INSERT INTO experiments (id, project_id, name, created_ms, updated_ms) VALUES (0, 1, 'Default', 0, 0);
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (experiment_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        name TEXT NOT NULL,
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,
        lifecycle TEXT NOT NULL DEFAULT 'active'
    ) WITHOUT ROWID;
    CREATE INDEX runs_by_experiment ON runs (experiment_id, start_ms);
    CREATE TABLE run_params (
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE run_tags (
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    -- Every logged point; NaN is stored as NULL.
    CREATE TABLE run_metrics (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        key TEXT NOT NULL,
        value REAL,
        ts_ms INTEGER NOT NULL,
        step INTEGER NOT NULL
    );
    CREATE INDEX run_metrics_by_key ON run_metrics (run_id, key, seq);
    CREATE TABLE run_inputs (
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        source_type TEXT NOT NULL,
        source TEXT NOT NULL,
        schema TEXT NOT NULL,
        profile TEXT NOT NULL,
        context TEXT NOT NULL,
        PRIMARY KEY (run_id, name, digest)
    ) WITHOUT ROWID;
    CREATE TABLE model_tags (
        model_id INTEGER NOT NULL REFERENCES models(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (model_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE version_registry (
        version_id INTEGER PRIMARY KEY REFERENCES versions(id),
        source TEXT NOT NULL DEFAULT '',
        run_id TEXT NOT NULL DEFAULT '',
        git_commit TEXT NOT NULL DEFAULT '',
        stage TEXT NOT NULL DEFAULT 'None',
        user_id TEXT NOT NULL DEFAULT '',
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE version_params (
        version_id INTEGER NOT NULL REFERENCES versions(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (version_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE version_metrics (
        version_id INTEGER NOT NULL REFERENCES versions(id),
        key TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (version_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE version_tags (
        version_id INTEGER NOT NULL REFERENCES versions(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (version_id, key)
    ) WITHOUT ROWID;
    -- The data a version was trained on: kind is `dvc`, `openlineage`, `mlflow` or
    -- another label; version is the md5, etag, dataset version or digest.
    CREATE TABLE version_data (
        version_id INTEGER NOT NULL REFERENCES versions(id),
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        PRIMARY KEY (version_id, kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE model_aliases (
        model_id INTEGER NOT NULL REFERENCES models(id),
        alias TEXT NOT NULL,
        version_id INTEGER NOT NULL REFERENCES versions(id),
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (model_id, alias)
    ) WITHOUT ROWID;
    -- Every stage change and alias move: kind `stage` (name = version, from/to =
    -- stages) or `alias` (name = alias, from/to = version names, NULL when unset).
    CREATE TABLE registry_transitions (
        seq INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        from_value TEXT,
        to_value TEXT,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX registry_transitions_by_model ON registry_transitions (model_id, seq);
    CREATE TABLE artifacts (
        path TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 12: promotion gates (the checks a move to production must pass, one JSON document
    // per model) and the report of every evaluation, kept with the version.
    "CREATE TABLE promotion_gates (
        model_id INTEGER PRIMARY KEY REFERENCES models(id),
        spec TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE promotion_reports (
        seq INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        passed INTEGER NOT NULL,
        report TEXT NOT NULL,
        actor TEXT NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX promotion_reports_by_version ON promotion_reports (version_id, seq);",
    // 13: outcome tallies per (model, version, bucket) for performance over long ranges.
    // A label joins its prediction's tally on exactly one path: a label stored before its
    // prediction is `early` and joins when the prediction is tallied; one stored after is
    // queued in `late_labels` with what its prediction said. The tallies start empty at
    // watermark 0, so every label already stored counts as early: the first pass over the
    // log joins them all.
    "ALTER TABLE labels ADD COLUMN early INTEGER NOT NULL DEFAULT 0;
    UPDATE labels SET early = 1;
    CREATE TABLE late_labels (
        seq INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL,
        version_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        pred_class TEXT,
        pred_num REAL,
        scores BLOB,
        label_class TEXT,
        label_num REAL,
        label_ts_ms INTEGER NOT NULL
    );
    CREATE TABLE outcome_buckets (
        model_id INTEGER NOT NULL,
        resolution_ms INTEGER NOT NULL,
        bucket_ms INTEGER NOT NULL,
        version_id INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (model_id, resolution_ms, bucket_ms, version_id)
    ) WITHOUT ROWID;
    CREATE TABLE tally_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        watermark INTEGER NOT NULL
    );
    INSERT INTO tally_state (id, watermark) VALUES (1, 0);",
    // 14: exceptions found by the request they failed, so that a reported
    // exception and the error logged with its prediction make one occurrence, not two.
    "CREATE INDEX error_events_by_request ON error_events (model_id, request_id);",
    // 15: which models have early labels, found at start without reading every label
    // (the committed tail looks labels up only for those; see `sqlite::tail`).
    "CREATE INDEX labels_early ON labels (model_id) WHERE early = 1;",
];

/// The schema version this build expects.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

pub fn apply(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current} but this build knows only up to {LATEST}; \
             run a newer sightline"
        )));
    }
    if current == LATEST {
        return Ok(());
    }
    // Foreign keys are enforced by default in this build of SQLite, and with them on
    // `ALTER TABLE ... ADD COLUMN ... REFERENCES` refuses a non-NULL default (migration 2
    // on a database that already has models). The pragma is a no-op inside a
    // transaction, so it is switched around them, and back on whatever happened.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = apply_from(conn, current);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    result
}

fn apply_from(conn: &mut Connection, current: u32) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Migration(format!("migration {version}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
