-- code.csv, replaced whole by every extract at finalize; staged per job until then.
CREATE TABLE IF NOT EXISTS code (
    category VARCHAR,
    code VARCHAR,
    language VARCHAR,
    description VARCHAR
);

CREATE TABLE IF NOT EXISTS import_staging_code (
    job_id INTEGER NOT NULL,
    category VARCHAR,
    code VARCHAR,
    language VARCHAR,
    description VARCHAR
);

-- The code table each completed job replaced, so that rolling the job back restores it.
CREATE TABLE IF NOT EXISTS import_code_backup (
    job_id INTEGER NOT NULL,
    category VARCHAR,
    code VARCHAR,
    language VARCHAR,
    description VARCHAR
);
