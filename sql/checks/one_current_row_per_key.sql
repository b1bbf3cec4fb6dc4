-- Keys with more than one current row (among the keys in scope).
SELECT count(*) AS keys_with_several_current_rows
FROM (
    SELECT {key} FROM {table} c
    WHERE _is_current {scope}
    GROUP BY {key}
    HAVING count(*) > 1
);
