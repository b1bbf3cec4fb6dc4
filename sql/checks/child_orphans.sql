-- Current rows of a child table (in scope) whose entity number is neither a current enterprise nor a
-- current establishment.
SELECT count(*) AS orphans
FROM {table} c
WHERE c._is_current {scope}
  AND NOT EXISTS (SELECT 1 FROM enterprise e WHERE e._is_current AND e.entity_number = c.entity_number)
  AND NOT EXISTS (SELECT 1 FROM establishment s WHERE s._is_current AND s.establishment_number = c.entity_number);
