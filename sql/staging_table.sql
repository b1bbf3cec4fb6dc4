-- Typed staging for one entity: the rows of a job's _delete file (only the key filled) and _insert
-- file (every column), each with the batch that will apply it. Deleted when the job completes.
{create} {staging_table} (
    job_id INTEGER NOT NULL,
    batch_number INTEGER NOT NULL,
    operation VARCHAR NOT NULL,
    {columns}
);
