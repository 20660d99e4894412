-- TAXII 2.1: status resources of object submissions, and date_added lookups for `added_after`.
-- Keep in step with the other dialect.

-- One row per POST to a collection's objects endpoint. `body` is the TAXII status resource as
-- JSON; only the submitting org may read it. Rows older than the retention period are purged
-- when new ones are written.
CREATE TABLE taxii_status (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX taxii_status_created ON taxii_status (created_at);

-- `added_after` and page cursors resolve a date_added to the first primary key at or after it.
CREATE INDEX objects_date_added ON objects (date_added);

-- `modified` is kept as fixed-width RFC 3339 UTC with six fraction digits, so that text order is
-- time order and a version can be matched by value whatever precision its producer used.
-- Widen the millisecond and whole-second forms written before.
UPDATE objects SET modified = substr(modified, 1, 19) || '.000000Z'
    WHERE length(modified) = 20 AND substr(modified, 20, 1) = 'Z';
UPDATE objects SET modified = substr(modified, 1, length(modified) - 1)
        || substr('00000', 1, 27 - length(modified)) || 'Z'
    WHERE length(modified) BETWEEN 22 AND 26 AND substr(modified, 20, 1) = '.'
        AND substr(modified, length(modified), 1) = 'Z';
