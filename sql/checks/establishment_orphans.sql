-- Current establishments (in scope) whose enterprise is not current.
SELECT count(*) AS orphans
FROM establishment c
WHERE c._is_current {scope}
  AND NOT EXISTS (SELECT 1 FROM enterprise e WHERE e._is_current AND e.entity_number = c.enterprise_number);
