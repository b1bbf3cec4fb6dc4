-- The changed rows updated where they are (many rows: core/row_changes.py).
UPDATE {table} SET {assignments}
FROM changed_rows changed
WHERE {table}.rowid = changed.changed_row
