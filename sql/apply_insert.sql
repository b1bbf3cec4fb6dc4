-- Add the rows of one insert batch, stamped with the extract. Runs once per batch: the batch's ledger
-- row commits in the same transaction, and a completed batch is never applied again.
INSERT INTO {table} ({columns}, _snapshot_date, _extract_number, _is_current, _deleted_at_extract)
SELECT {columns}, $snapshot_date, $extract, true, NULL
FROM {staging_table}
WHERE job_id = $job_id AND batch_number = $batch_number AND operation = 'insert';
