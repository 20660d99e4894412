-- isac schema, PostgreSQL dialect. Keep in step with migrations/sqlite/0001_init.sql: the same
-- tables, columns and constraints. Booleans and times are BIGINT (0/1, unix microseconds) so one
-- query text serves both backends.

CREATE TABLE orgs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('operator', 'member', 'partner', 'vendor')),
    sector          TEXT,
    name_en         TEXT NOT NULL UNIQUE,
    name_zh         TEXT NOT NULL,
    partner_ceiling TEXT,
    require_totp    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
-- Exactly one operator: the ISAC itself.
CREATE UNIQUE INDEX orgs_one_operator ON orgs (kind) WHERE kind = 'operator';

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    locale        TEXT NOT NULL,
    role          TEXT NOT NULL,
    enabled       BIGINT NOT NULL,
    password_hash TEXT,
    totp_secret   TEXT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE sharing_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES sharing_groups (id),
    org_id   TEXT NOT NULL REFERENCES orgs (id),
    PRIMARY KEY (group_id, org_id)
);
CREATE INDEX group_members_org ON group_members (org_id);

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    name_en       TEXT NOT NULL,
    name_zh       TEXT NOT NULL,
    sector        TEXT NOT NULL,
    contact_name  TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    motivation    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by    TEXT REFERENCES users (id),
    decided_at    BIGINT,
    org_id        TEXT REFERENCES orgs (id),
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    csrf         TEXT NOT NULL,
    mfa_pending  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One row per object version; pk order is date_added order.
CREATE TABLE objects (
    pk         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stix_id    TEXT NOT NULL,
    stix_type  TEXT NOT NULL,
    modified   TEXT NOT NULL,
    date_added BIGINT NOT NULL,
    owner_org  TEXT NOT NULL REFERENCES orgs (id),
    author     TEXT NOT NULL REFERENCES users (id),
    tlp        TEXT NOT NULL CHECK (tlp IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    revoked    BIGINT NOT NULL,
    is_latest  BIGINT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    UNIQUE (stix_id, modified)
);
CREATE INDEX objects_latest_added ON objects (is_latest, pk);
CREATE INDEX objects_latest_tlp ON objects (is_latest, tlp, pk);
CREATE INDEX objects_id ON objects (stix_id, pk);
CREATE INDEX objects_type ON objects (stix_type, is_latest, pk);
CREATE INDEX objects_owner ON objects (owner_org, is_latest, pk);
CREATE INDEX objects_modified ON objects (is_latest, modified, pk);

-- Audience of one version: recipient orgs, recipient groups and named users.
CREATE TABLE object_recipients (
    object_pk BIGINT NOT NULL REFERENCES objects (pk),
    kind      TEXT NOT NULL CHECK (kind IN ('org', 'group', 'user')),
    ref_id    TEXT NOT NULL,
    PRIMARY KEY (object_pk, kind, ref_id)
);
CREATE INDEX object_recipients_ref ON object_recipients (ref_id, kind, object_pk);

-- Searchable values (IPs, domains, hashes, names) of each version, lower-cased.
CREATE TABLE object_values (
    value     TEXT NOT NULL,
    object_pk BIGINT NOT NULL REFERENCES objects (pk),
    PRIMARY KEY (value, object_pk)
);

-- Append-only, hash-chained audit log.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_user TEXT,
    actor_org  TEXT,
    source     TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
