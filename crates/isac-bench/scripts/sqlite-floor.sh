#!/usr/bin/env bash
# What SQLite alone needs to store imported objects with isac's schema, without isac: copies the
# objects, audiences and searchable values of a store kept by `isac-bench import --keep` into a
# new file with the same schema and pragmas (WAL, synchronous=FULL, 128 MiB cache, checkpoint
# every 16384 pages), in transactions of TXN objects (default 5,000, one import unit; `isac
# import` commits every 50,000), with the `sqlite3` shell's INSERT … SELECT. No parsing,
# validation or driver is involved, so this is the floor under any import into that schema on
# this machine.
#
# VARIANT (fourth argument) changes the new file's schema, to see what SQLite's share would be
# under another design (docs/BENCHMARKS.md, "What SQLite alone can reach"):
#   isac          isac's schema (the default)
#   page16k       the same with 16 KiB pages instead of 4 KiB
#   compact-ids   a 64-bit key (random here) in place of the text STIX id in the two unique
#                 indexes on objects: UNIQUE (id_key, modified) and the one-latest index on id_key
#   unique-only   compact-ids without the other six indexes on objects
#   rows-only     no index on objects at all (audiences and values kept)
#   trigger       isac's schema with the unique one-latest index replaced by a trigger that looks
#                 the id up in the unique (stix_id, modified) index before each insert
#   load          isac's schema loaded as `isac import` loads an empty store: one transaction,
#                 the table and its unique (stix_id, modified) index written row by row, every
#                 other index on objects, audiences and ends built at the end (CREATE INDEX)
#   rollback      isac's schema with a rollback journal (journal_mode=DELETE) instead of the WAL:
#                 pages new to the file are written once, not into the WAL and then back
#   small-body    isac's schema with each body, and each compressed body, cut to its first 250
#                 bytes (a size study from before bodies were stored compressed)
#   drop:A,B      isac's schema without the named indexes (e.g. drop:objects_modified), to see
#                 what each index costs the import
#   nofk          isac's schema with foreign-key enforcement off (the same constraints declared)
#   A+B           several of the above together (e.g. nofk+rollback)
#
#   isac-bench import --objects 100000 --runs 1 --data /tmp/isac-floor --keep
#   crates/isac-bench/scripts/sqlite-floor.sh /tmp/isac-floor/import-*/isac.db [RUNS [TXN [VARIANT]]]
set -euo pipefail
src="$1"
runs="${2:-5}"
txn="${3:-5000}"
variant="${4:-isac}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sqlite3 "$src" "SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL
    AND name NOT LIKE '\_sqlx%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
    ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid" > "$work/schema.sql"
cols="pk, stix_id, stix_type, modified, date_added, owner_org, author, tlp, revoked, is_latest, title, body, body_z"
sel="$cols"
fk=ON
journal=WAL
load=
for part in ${variant//+/ }; do
case "$part" in
    isac) ;;
    page16k) sed -i '1i PRAGMA page_size=16384;' "$work/schema.sql" ;;
    trigger)
        sed -i '/^CREATE UNIQUE INDEX objects_one_latest /d' "$work/schema.sql"
        # `+is_latest` keeps SQLite on the id index (not walking every latest version).
        cat >> "$work/schema.sql" <<'SQL'
CREATE TRIGGER objects_one_latest_insert BEFORE INSERT ON objects WHEN NEW.is_latest = 1
BEGIN
    SELECT RAISE(ABORT, 'one latest version per id')
    WHERE EXISTS (SELECT 1 FROM objects WHERE stix_id = NEW.stix_id AND +is_latest = 1);
END;
SQL
        ;;
    compact-ids | unique-only | rows-only)
        sed -i -e 's/^    body       TEXT NOT NULL,\(.*\)$/    body       TEXT NOT NULL,\1\n    id_key     INTEGER NOT NULL,/' \
            -e 's/^    UNIQUE (stix_id, modified)$/    UNIQUE (id_key, modified)/' \
            -e 's/ON objects (stix_id) WHERE is_latest = 1/ON objects (id_key) WHERE is_latest = 1/' \
            "$work/schema.sql"
        if [ "$part" != compact-ids ]; then
            sed -i -E '/^CREATE (UNIQUE )?INDEX objects_[a-z_]+ ON objects/d' "$work/schema.sql"
        fi
        if [ "$part" = rows-only ]; then
            sed -i 's/^    UNIQUE (id_key, modified)$/    id_key2    INTEGER/' "$work/schema.sql"
        fi
        cols="$cols, id_key"
        sel="$sel, random()"
        ;;
    load)
        load=1
        grep -E '^CREATE (UNIQUE )?INDEX (objects_|object_recipients_ref|object_ends_ref)' \
            "$work/schema.sql" > "$work/deferred.sql"
        sed -i -E '/^CREATE (UNIQUE )?INDEX (objects_|object_recipients_ref|object_ends_ref)/d' \
            "$work/schema.sql"
        ;;
    rollback) journal=DELETE ;;
    nofk) fk=OFF ;;
    small-body) sel="${sel/%body, body_z/substr(body, 1, 250), substr(body_z, 1, 250)}" ;;
    drop:*)
        ixs="${part#drop:}"; for ix in ${ixs//,/ }; do
            grep -q "^CREATE \(UNIQUE \)\?INDEX $ix " "$work/schema.sql" || { echo "no index $ix" >&2; exit 2; }
            sed -i "/^CREATE \(UNIQUE \)\?INDEX $ix /d" "$work/schema.sql"
        done
        ;;
    *) echo "unknown variant $part" >&2; exit 2 ;;
esac
done
n=$(sqlite3 "$src" "SELECT max(pk) FROM objects")
{
    echo "PRAGMA journal_mode=$journal;"
    echo "PRAGMA synchronous=FULL; PRAGMA cache_size=-131072;"
    echo "PRAGMA wal_autocheckpoint=16384; PRAGMA foreign_keys=$fk;"
    echo "ATTACH '$src' AS s;"
    echo "INSERT INTO orgs SELECT * FROM s.orgs; INSERT INTO users SELECT * FROM s.users;"
    [ -n "$load" ] && echo "BEGIN;"
    for ((lo = 0; lo < n; lo += txn)); do
        hi=$((lo + txn))
        [ -n "$load" ] || echo "BEGIN;"
        echo "INSERT INTO objects ($cols) SELECT $sel FROM s.objects WHERE pk > $lo AND pk <= $hi ORDER BY pk;"
        echo "INSERT INTO object_values SELECT * FROM s.object_values WHERE object_pk > $lo AND object_pk <= $hi;"
        echo "INSERT INTO object_recipients SELECT * FROM s.object_recipients WHERE object_pk > $lo AND object_pk <= $hi;"
        [ -n "$load" ] || echo "COMMIT;"
    done
    if [ -n "$load" ]; then cat "$work/deferred.sql"; echo "COMMIT;"; fi
} > "$work/copy.sql"
echo "objects: $n, variant: $variant, transactions of $txn"
for ((r = 1; r <= runs; r++)); do
    rm -f "$work"/floor.db*
    sqlite3 "$work/floor.db" < "$work/schema.sql"
    start=$(date +%s.%N)
    sqlite3 "$work/floor.db" < "$work/copy.sql" > /dev/null
    end=$(date +%s.%N)
    echo "run $r: $(echo "$n / ($end - $start)" | bc) objects/s ($(echo "$end - $start" | bc) s)"
done
