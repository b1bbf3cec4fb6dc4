-- Moving the changed rows, part 1: their new versions appended at the table's end, in their old order.
INSERT INTO {table} BY NAME
SELECT t.* REPLACE ({replacements})
FROM {table} t JOIN changed_rows changed ON t.rowid = changed.changed_row
ORDER BY changed.changed_row
