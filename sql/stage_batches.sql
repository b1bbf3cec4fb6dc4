-- One pending ledger row per batch of one table and operation, from the staged rows.
INSERT INTO import_job_batches (job_id, table_name, batch_number, operation, status, records_count)
SELECT job_id, $table_name, batch_number, operation, $pending, count(*)
FROM {staging_table}
WHERE job_id = $job_id AND operation = $operation
GROUP BY job_id, batch_number, operation;
