-- Retire the current rows of the keys listed in one delete batch. `_extract_number < $extract` keeps
-- the rows this same extract inserted: whatever order the batches run in, the result is that of all
-- deletes before all inserts. Re-running it matches nothing more.
UPDATE {table}
SET _is_current = false, _deleted_at_extract = $extract
WHERE _is_current
  AND _extract_number < $extract
  AND {key} IN (
      SELECT {key} FROM {staging_table}
      WHERE job_id = $job_id AND batch_number = $batch_number AND operation = 'delete'
  );
