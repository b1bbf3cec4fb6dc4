-- Stage one CSV of an extract: typed by DuckDB's reader (built from the entity spec), each row given
-- the batch that will apply it ({batch_number}, from staging.py). Inserts are numbered by a sequence,
-- restarted for every CSV, not by row_number() OVER (): a window over the whole file makes DuckDB
-- read the CSV on one thread (1.7 x slower for the Full's files here), while the sequence keeps the
-- read parallel, with exact batch sizes and nearly contiguous batches. Deletes (one key column) are
-- numbered in key order, so that a delete batch retires rows of one stretch of the table: its scan
-- skips the rest by the row groups' min/max (and, updated in place, fewer are rewritten at checkpoint).
CREATE OR REPLACE TEMP SEQUENCE kbo_staged_row;
INSERT INTO {staging_table} (job_id, batch_number, operation, {columns})
SELECT $job_id, {batch_number}, $operation, {expressions}
FROM (SELECT {renamed} FROM {reader}) AS csv_rows;
