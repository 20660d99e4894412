-- Bodies stored compressed (isac-store `body` module): a new version's JSON goes into `body_z`
-- as a zstd frame against a fixed STIX dictionary, with `body` left empty. Versions stored
-- before keep `body_z` NULL and their JSON in `body`; readers take whichever is set, so no row is
-- rewritten here. Keep in step with the other dialect.
ALTER TABLE objects ADD COLUMN body_z BYTEA;
