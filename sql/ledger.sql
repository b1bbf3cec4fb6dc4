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

-- The database's identity: written once when the ledger is created. The files kept outside the
-- database about it (the ledger state file, the export manifest) name this id, so that a folder of
-- exports written by another database is refused, and a rebuilt database is told from the one it
-- replaces.
CREATE TABLE IF NOT EXISTS import_database (
    database_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
INSERT INTO import_database (database_id)
SELECT uuid()::VARCHAR WHERE NOT EXISTS (SELECT 1 FROM import_database);

-- Why a job failed: its file's content (input: the same bytes fail again, the sensor leaves them) or
-- what it ran on (resource: memory, disk, a folder; the same file is tried again). Added with IF NOT
-- EXISTS so that a ledger made before the column existed gains it.
ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS failure_kind VARCHAR;
-- The duplicate rows its staging dropped (JSON: table, file, how many, their lines; core/duplicates.py).
ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS duplicates_report VARCHAR;
