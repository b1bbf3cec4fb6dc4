-- Current establishments (in scope) whose enterprise is not current. {enterprises} is the current
-- enterprise numbers: the whole table, or for an import only those among the numbers it touched.
WITH candidates AS MATERIALIZED (
    SELECT c.enterprise_number FROM establishment c WHERE c._is_current {scope}
)
SELECT count(*) AS orphans
FROM candidates c
WHERE NOT EXISTS (SELECT 1 FROM {enterprises} p WHERE p.number = c.enterprise_number);
