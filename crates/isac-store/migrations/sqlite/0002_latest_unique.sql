-- At most one latest version per object id. Writers mark the old version as not latest before
-- inserting the new one; this index makes any other order (or a racing writer) fail loudly
-- instead of leaving two latest versions.
CREATE UNIQUE INDEX objects_one_latest ON objects (stix_id) WHERE is_latest = 1;
