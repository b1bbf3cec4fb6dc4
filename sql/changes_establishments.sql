-- The enterprise of each establishment a child row refers to (its latest version).
establishments AS (
    SELECT establishment_number, arg_max(enterprise_number, _extract_number) AS enterprise_number
    FROM establishment{which}
    GROUP BY ALL
)
