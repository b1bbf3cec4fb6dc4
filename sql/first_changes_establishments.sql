-- The change set of an extract that no row of {table} precedes (a first Full): every row added, every
-- key new. Equal to changes_in_{table}(k) but for the order of its rows when every establishment number
-- has the register's form (2.000.000.339; docs/extract-format.md), which the export checks first:
-- an enterprise's rows in the table's order, then an establishment's in the table's order. No sort of the
-- whole table: only the establishments' rows go through the join that finds their enterprise (a hash
-- join does not keep the order), and only they are put back in order by rowid, so that exporting again
-- writes the same bytes.
CREATE OR REPLACE MACRO first_changes_in_{table}(k) AS TABLE
SELECT 'added' AS change, 'new' AS kind, t.{key} AS enterprise_number, t.* EXCLUDE (_is_current, _deleted_at_extract)
FROM {table} t
WHERE t._extract_number = k AND NOT ({is_establishment})
UNION ALL
(
    WITH {establishments}
    SELECT 'added' AS change, 'new' AS kind, coalesce(e.enterprise_number, t.{key}) AS enterprise_number,
           t.* EXCLUDE (_is_current, _deleted_at_extract)
    FROM {table} t
    LEFT JOIN establishments e ON e.establishment_number = t.{key}
    WHERE t._extract_number = k AND {is_establishment}
    ORDER BY t.rowid
);
