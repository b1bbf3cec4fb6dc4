,
-- The enterprise of each establishment a child row of this extract refers to (its latest version).
establishments AS (
    SELECT establishment_number, arg_max(enterprise_number, _extract_number) AS enterprise_number
    FROM establishment WHERE establishment_number IN (SELECT {key} FROM touched)
    GROUP BY ALL
)
