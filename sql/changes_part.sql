SELECT '{table}' AS table_name, {position} AS table_position, {key} AS key, enterprise_number, change, kind,
       _extract_number AS extract_number, to_json(struct_pack({row_columns})) AS row_json
FROM changes_in_{table}(k)
