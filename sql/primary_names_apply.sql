-- The names computed by primary_names.sql (touched_names), applied to the current enterprise rows
-- whose names they change; the columns set and compared are the enterprise's finalized ones (spec).
UPDATE {table}
SET {assignments}
FROM touched_names AS names
WHERE {table}.{key} = names.{key} AND {table}._is_current
  AND {table}.{key} IN (SELECT {key} FROM touched_names)
  AND ({differs});
