-- Current enterprises (in scope) without a primary name.
SELECT count(*) AS without_primary_name
FROM enterprise c
WHERE c._is_current AND c.primary_name IS NULL {scope};
