-- The objects a relationship or sighting connects (DESIGN §3: it is visible only where the object
-- itself and every end are). One row per version and end; `ref_id` is a STIX id, which may name an
-- object that is not stored.
CREATE TABLE object_ends (
    object_pk BIGINT NOT NULL REFERENCES objects (pk),
    ref_id    TEXT NOT NULL,
    PRIMARY KEY (object_pk, ref_id)
);
CREATE INDEX object_ends_ref ON object_ends (ref_id);
