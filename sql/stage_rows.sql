-- Stage one CSV of an extract: typed by DuckDB's reader (built from the entity spec), each
-- row given the batch that will apply it.
INSERT INTO {staging_table} (job_id, batch_number, operation, {columns})
SELECT $job_id, (row_number() OVER () - 1) // $batch_size + 1, $operation, {expressions}
FROM (SELECT {renamed} FROM {reader}) AS csv_rows;
