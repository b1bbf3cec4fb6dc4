-- The change set of extract k over every entity table, one row per row added or retired:
--   SELECT * FROM changes_in(148) WHERE kind <> 'unchanged' AND table_name = 'address';
-- key is the table's key (what a _delete file lists), row_json the whole row. Per table, with typed
-- columns: changes_in_<table>(k).
CREATE OR REPLACE MACRO changes_in(k) AS TABLE
{selects}
ORDER BY table_position, key, change, row_json;

-- Per table, what extract k did: rows added and retired, and its keys by kind of change (new,
-- stopped, changed, unchanged re-deliveries, renamed enterprises; see changes_in_<table>) and the
-- enterprises touched.
--   SELECT * FROM change_summary(148);
CREATE OR REPLACE MACRO change_summary(k) AS TABLE
SELECT t.table_name,
       count(c.change) FILTER (WHERE c.change = 'added') AS rows_added,
       count(c.change) FILTER (WHERE c.change = 'retired') AS rows_retired,
       count(DISTINCT c.key) FILTER (WHERE c.kind = 'new') AS new,
       count(DISTINCT c.key) FILTER (WHERE c.kind = 'stopped') AS stopped,
       count(DISTINCT c.key) FILTER (WHERE c.kind = 'changed') AS changed,
       count(DISTINCT c.key) FILTER (WHERE c.kind = 'unchanged') AS unchanged,
       count(DISTINCT c.key) FILTER (WHERE c.kind = 'renamed') AS renamed,
       count(DISTINCT c.enterprise_number) AS enterprises
FROM (VALUES {tables}) t(table_name, table_position)
LEFT JOIN changes_in(k) c USING (table_name)
GROUP BY t.table_name, t.table_position
ORDER BY t.table_position;
