-- Undo what one extract did to one entity table, part 1: the rows it inserted go.
DELETE FROM {table} WHERE _extract_number = $extract
