-- Stage one CSV of an extract: typed by DuckDB's reader (built from the entity spec), each row given
-- the batch that will apply it. The batch comes from a sequence, restarted for every CSV, not from
-- row_number() OVER (): a window over the whole file makes DuckDB read the CSV on one thread (1.7 x
-- slower for the Full's files here), while the sequence keeps the read parallel. Batch sizes stay
-- exact; a batch's rows are then only nearly contiguous, which is all the batch's scan needs.
CREATE OR REPLACE TEMP SEQUENCE kbo_staged_row;
INSERT INTO {staging_table} (job_id, batch_number, operation, {columns})
SELECT $job_id, (nextval('kbo_staged_row') - 1) // $batch_size + 1, $operation, {expressions}
FROM (SELECT {renamed} FROM {reader}) AS csv_rows;
