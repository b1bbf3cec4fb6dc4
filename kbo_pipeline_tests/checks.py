"""Helpers shared by the tests: a checksum of every entity table, to prove that nothing changed."""

from kbo_pipeline.entities import ENTITIES


def table_checksums(conn) -> dict[str, tuple]:
    sums = {}
    for entity in ENTITIES:
        try:
            sums[entity.table] = conn.execute(
                f"SELECT count(*), coalesce(sum(hash({entity.table})), 0) FROM {entity.table}"
            ).fetchone()
        except Exception:  # the table does not exist yet
            sums[entity.table] = None
    return sums
