-- Moving the changed rows, part 2: their old versions deleted where they are (a mark in their row group).
DELETE FROM {table} WHERE rowid IN (SELECT changed_row FROM changed_rows)
