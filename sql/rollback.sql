-- Undo what one extract did to one entity table: its rows go, the rows it retired are current again.
DELETE FROM {table} WHERE _extract_number = $extract;
UPDATE {table} SET _is_current = true, _deleted_at_extract = NULL WHERE _deleted_at_extract = $extract;
