-- A Full into an empty database: one CSV read straight into its table, typed by the same reader as
-- staging and stamped as an insert batch stamps its rows. Nothing to retire or reconcile, so the copy
-- through a staging table (the second write of 47 M rows) is skipped; the rows commit with their
-- ledger row in the staging transaction.
INSERT INTO {table} ({columns}, _snapshot_date, _extract_number, _is_current, _deleted_at_extract)
SELECT {expressions}, $snapshot_date, $extract_number, true, NULL
FROM (SELECT {renamed} FROM {reader}) AS csv_rows;
