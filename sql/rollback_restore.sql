-- Undo what one extract did to one entity table, part 2: the rows it retired are current again.
UPDATE {table} SET _is_current = true, _deleted_at_extract = NULL WHERE _deleted_at_extract = $extract
