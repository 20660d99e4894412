-- The ids a container names (`object_refs` of a report, grouping, note, opinion or observed-data)
-- are searchable values of it from this version on (isac-server `intel::extract_values`), so that
-- an object's page can list what mentions it. This gives the versions stored before the same
-- values: after the object's own, lower-cased, in id order, up to 200 values in all.
WITH own AS (
    SELECT object_pk, COUNT(*) AS n FROM object_values GROUP BY object_pk
),
named AS (
    SELECT DISTINCT o.pk AS pk, lower(j.value) AS value
    FROM objects o, json_each(o.body, '$.object_refs') j
    WHERE o.stix_type IN ('report', 'grouping', 'note', 'opinion', 'observed-data')
      AND json_valid(o.body) AND json_type(o.body, '$.object_refs') = 'array'
      AND j.type = 'text' AND length(j.value) <= 2048
),
fresh AS (
    SELECT pk, value, row_number() OVER (PARTITION BY pk ORDER BY value) AS k
    FROM named
    WHERE NOT EXISTS (SELECT 1 FROM object_values v WHERE v.object_pk = named.pk AND v.value = named.value)
)
INSERT OR IGNORE INTO object_values (value, object_pk)
SELECT f.value, f.pk FROM fresh f LEFT JOIN own ON own.object_pk = f.pk
WHERE f.k + COALESCE(own.n, 0) <= 200;
