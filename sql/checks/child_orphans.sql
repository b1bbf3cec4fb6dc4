-- Current rows of a child table (in scope) whose entity number is neither a current enterprise nor a
-- current establishment ({enterprises}, {establishments}: see establishment_orphans.sql). The rows in
-- scope are found first, so that the parent lookups probe a few rows, not the whole table.
WITH candidates AS MATERIALIZED (
    SELECT c.entity_number FROM {table} c WHERE c._is_current {scope}
)
SELECT count(*) AS orphans
FROM candidates c
WHERE NOT EXISTS (SELECT 1 FROM {enterprises} p WHERE p.number = c.entity_number)
  AND NOT EXISTS (SELECT 1 FROM {establishments} p WHERE p.number = c.entity_number);
