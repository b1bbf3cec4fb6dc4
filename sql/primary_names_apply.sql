-- The names computed by primary_names.sql (touched_names), applied to the current enterprise rows
-- whose names they change.
UPDATE enterprise
SET primary_name = names.primary_name,
    primary_name_language = names.primary_name_language,
    primary_name_nl = names.primary_name_nl,
    primary_name_fr = names.primary_name_fr,
    primary_name_de = names.primary_name_de
FROM touched_names AS names
WHERE enterprise.entity_number = names.entity_number AND enterprise._is_current
  AND enterprise.entity_number IN (SELECT entity_number FROM touched_names)
  AND (enterprise.primary_name IS DISTINCT FROM names.primary_name
       OR enterprise.primary_name_language IS DISTINCT FROM names.primary_name_language
       OR enterprise.primary_name_nl IS DISTINCT FROM names.primary_name_nl
       OR enterprise.primary_name_fr IS DISTINCT FROM names.primary_name_fr
       OR enterprise.primary_name_de IS DISTINCT FROM names.primary_name_de);
