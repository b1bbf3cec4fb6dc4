-- The current rows of the keys listed in one delete batch, retired (core/row_changes.py).
-- `_extract_number < $extract` keeps the rows this same extract inserted: whatever order the batches
-- run in, the result is that of all deletes before all inserts. Re-running it matches nothing more.
SELECT rowid AS changed_row, false AS _is_current, $extract::INTEGER AS _deleted_at_extract
FROM {table}
WHERE _is_current
  AND _extract_number < $extract
  AND {key} IN (
      SELECT {key} FROM {staging_table}
      WHERE job_id = $job_id AND batch_number = $batch_number AND operation = 'delete'
  )
