
    UNION ALL
    -- Keys whose names extract k changed in place (import_name_changes): the row current at k, retired
    -- with its old names and added with its new ones.
    SELECT c.change, t.* REPLACE ({replaced})
    FROM import_name_changes n
    JOIN {table} t ON t.{key} = n.{key} AND t._extract_number < k
                  AND (t._deleted_at_extract IS NULL OR t._deleted_at_extract > k)
    CROSS JOIN (VALUES ('retired'), ('added')) c(change)
    WHERE n.extract_number = k AND t.{key} IN (SELECT unnest(keys))
