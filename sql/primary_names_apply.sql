-- The current enterprise rows whose names the computed ones (primary_names.sql, touched_names) change,
-- with those names (core/row_changes.py); the columns compared and replaced are the enterprise's
-- finalized ones (spec).
SELECT e.rowid AS changed_row, {names}
FROM {table} e JOIN touched_names names ON e.{key} = names.{key}
WHERE e._is_current
  AND e.{key} IN (SELECT {key} FROM touched_names)
  AND ({differs})
