-- Fewer B-trees per stored version, for bulk imports. Keep in step with the other dialect.
--
-- `objects_id (stix_id, pk)` repeated the unique `(stix_id, modified)` index: every lookup by id
-- can use that one, and an id has few versions to order. (The SQLite dialect also rebuilds the
-- audience, value and end tables WITHOUT ROWID; PostgreSQL has no rowid to drop.)
DROP INDEX objects_id;
