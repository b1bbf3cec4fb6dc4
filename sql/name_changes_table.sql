-- The enterprises whose names an extract changed in place: a denomination changed while the enterprise
-- row stayed, so the current row's names were updated and no row was added. Their names before and
-- after, so that the extract's change set carries them (kind 'renamed'), with the same values however
-- often later extracts rename them. Written when the names are resolved; removed with a rollback.
CREATE TABLE IF NOT EXISTS import_name_changes (
    extract_number INTEGER NOT NULL,
    {key} VARCHAR NOT NULL,
    {columns},
    PRIMARY KEY (extract_number, {key})
);
