-- The current enterprise rows whose names the computed ones (primary_names.sql, touched_names) change:
-- where each is (its rowid), the extract that added it, and its names before and after (old_*,
-- new_*; the enterprise's finalized columns, spec). Read once, for both the record of the changes
-- (name_changes.sql) and the changes themselves (core/row_changes.py).
CREATE OR REPLACE TEMP TABLE renamed_enterprises AS
SELECT e.rowid AS changed_row, e.{key}, e._extract_number, {old_and_new}
FROM {table} e JOIN touched_names names ON e.{key} = names.{key}
WHERE e._is_current
  AND e.{key} IN (SELECT {key} FROM touched_names)
  AND ({differs});
