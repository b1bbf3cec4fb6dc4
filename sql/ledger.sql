-- The import ledger: one row per extract, one row per batch. The database, not the Dagster instance,
-- is the source of truth for what has been applied.
CREATE TABLE IF NOT EXISTS import_jobs (
    job_id INTEGER PRIMARY KEY,
    extract_number INTEGER UNIQUE,
    extract_type VARCHAR,              -- full | update
    snapshot_date DATE,
    extract_timestamp TIMESTAMP,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR,
    status VARCHAR NOT NULL,           -- staging | processing | completed | failed | rolled_back
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at TIMESTAMP,
    staged_at TIMESTAMP,              -- set when its staging committed
    completed_at TIMESTAMP,
    total_batches INTEGER,
    rows_staged BIGINT,
    rows_deleted BIGINT,
    rows_inserted BIGINT,
    names_resolved BIGINT,
    error_message VARCHAR,
    dagster_run_id VARCHAR,
    drift_report VARCHAR               -- JSON, for a Full reconciled with existing data
);

CREATE TABLE IF NOT EXISTS import_job_batches (
    job_id INTEGER NOT NULL,
    table_name VARCHAR NOT NULL,
    batch_number INTEGER NOT NULL,
    operation VARCHAR NOT NULL,        -- delete | insert
    status VARCHAR NOT NULL,           -- pending | processing | completed | failed
    records_count BIGINT NOT NULL,
    rows_affected BIGINT,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    error_message VARCHAR,
    PRIMARY KEY (job_id, table_name, batch_number, operation)
);

CREATE INDEX IF NOT EXISTS import_job_batches_job_table ON import_job_batches (job_id, table_name);
