-- Everything the register said about one enterprise or establishment number, and when: one row per
-- row version of every table that refers to it, with the extract that added it and the one that
-- removed it. SELECT * FROM entity_history('0200.065.765');
CREATE OR REPLACE MACRO entity_history(entity) AS TABLE
{selects}
ORDER BY added_in, table_name;
