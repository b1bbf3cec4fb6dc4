-- The change set of an extract that no row of {table} precedes (a first Full): every row added, every
-- key new. Equal to changes_in_{table}(k) but for the order of its rows, which is the table's: the
-- export writes it without grouping the whole table or sorting it (the same bytes every time).
CREATE OR REPLACE MACRO first_changes_in_{table}(k) AS TABLE
SELECT 'added' AS change, 'new' AS kind, {enterprise}t.* EXCLUDE (_is_current, _deleted_at_extract)
FROM {table} t
WHERE t._extract_number = k;
