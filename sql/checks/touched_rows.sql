-- The rows of one table that extract $extract inserted or retired: the scope of an Update's data
-- checks. Both filters are on integer columns, and an extract's inserts sit together at the end of the
-- table, so this reads two narrow columns, not the table.
CREATE OR REPLACE TEMP TABLE check_rows_{table} AS
SELECT {references}, _extract_number, _deleted_at_extract
FROM {table}
WHERE _extract_number = $extract OR _deleted_at_extract = $extract;
