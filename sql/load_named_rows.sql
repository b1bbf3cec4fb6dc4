-- A first Full's enterprise rows, staged (stage_rows.sql), into their table together with their
-- primary names (touched_names: primary_names.sql over every staged enterprise), in the file's order.
-- Loading them bare and then updating 1.9 M committed rows in place cost twice as much (the update,
-- its commit and the checkpoint that rewrites what it touched).
INSERT INTO {table} ({columns}, {named}, _snapshot_date, _extract_number, _is_current, _deleted_at_extract)
SELECT {staged}, {names}, $snapshot_date, $extract_number, true, NULL
FROM {staging_table} AS s
LEFT JOIN touched_names AS names ON names.{key} = s.{key}
WHERE s.job_id = $job_id AND s.operation = 'insert'
ORDER BY s.rowid;
