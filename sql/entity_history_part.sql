SELECT '{table}' AS table_name, _extract_number AS added_in, _deleted_at_extract AS removed_in,
       _snapshot_date AS snapshot_date, to_json(t) AS row_json
FROM {table} t WHERE entity IN ({references})
