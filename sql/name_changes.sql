-- Between computing the names (primary_names.sql, touched_names) and applying them: the enterprises
-- whose current row, added by an earlier extract than $extract, gets other names, with both.
INSERT OR IGNORE INTO import_name_changes
SELECT $extract, e.{key}, {old_and_new}
FROM {table} e JOIN touched_names names ON names.{key} = e.{key}
WHERE e._is_current AND e._extract_number <> $extract AND ({differs});
