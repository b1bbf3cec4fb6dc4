-- Per job, for one table: the rows its insert batches staged and inserted and its delete batches
-- retired, by the ledger, against the rows of the table stamped with its extract. An import checks its
-- own job ($extract; {rows} = the rows it touched), an audit every completed job ({rows} = the table). A
-- rolled-back job has applied nothing (a run that left it rolled back checks nothing of it).
WITH ledger AS (
    SELECT j.extract_number,
           coalesce(sum(b.records_count) FILTER (WHERE b.operation = 'insert'), 0) AS rows_staged,
           coalesce(sum(b.rows_affected) FILTER (WHERE b.operation = 'insert'), 0) AS ledger_rows_inserted,
           coalesce(sum(b.rows_affected) FILTER (WHERE b.operation = 'delete'), 0) AS ledger_rows_retired
    FROM import_jobs j LEFT JOIN import_job_batches b ON b.job_id = j.job_id AND b.table_name = $table
    WHERE CASE WHEN $extract IS NULL THEN j.status = $completed ELSE j.extract_number = $extract END
      AND j.status <> $rolled_back
    GROUP BY j.extract_number
),
inserted AS (SELECT _extract_number AS extract_number, count(*) AS rows_inserted FROM {rows} GROUP BY ALL),
retired AS (
    SELECT _deleted_at_extract AS extract_number, count(*) AS rows_retired FROM {rows}
    WHERE _deleted_at_extract IS NOT NULL GROUP BY ALL
)
SELECT l.extract_number, l.rows_staged, coalesce(i.rows_inserted, 0) AS rows_inserted,
       l.ledger_rows_inserted, coalesce(r.rows_retired, 0) AS rows_retired, l.ledger_rows_retired
FROM ledger l
LEFT JOIN inserted i USING (extract_number)
LEFT JOIN retired r USING (extract_number)
ORDER BY l.extract_number;
