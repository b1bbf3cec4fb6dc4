-- The rows of one table that extract $extract inserted or retired: the scope of an Update's data
-- checks. Two filters on integer columns rather than one OR, so that the first is answered from the
-- row groups' min/max alone (an extract's inserts sit together at the end of the table, and so do the
-- rows a daily update retired: core/row_changes.py).
CREATE OR REPLACE TEMP TABLE check_rows_{table} AS
SELECT {references}, _extract_number, _deleted_at_extract FROM {table} WHERE _extract_number = $extract
UNION ALL
SELECT {references}, _extract_number, _deleted_at_extract FROM {table}
WHERE _deleted_at_extract = $extract AND _extract_number <> $extract;
