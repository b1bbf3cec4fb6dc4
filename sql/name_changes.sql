-- Of the renamed enterprises (renamed_enterprises.sql), those whose current row an earlier extract
-- than $extract added, with their names before and after: the extract's 'renamed' change set.
INSERT OR IGNORE INTO import_name_changes
SELECT $extract, {key}, {old_and_new}
FROM renamed_enterprises
WHERE _extract_number <> $extract;
