-- What the app role may change, granted by the owner after each `camcanary migrate`
-- (roles.sql gave it SELECT and INSERT on every table already). Idempotent:
--
--   psql -v ON_ERROR_STOP=1 -U camcanary_owner -d camcanary -f grants.sql
--
-- UPDATE and DELETE on every table but the append-only audit tables and Alembic's
-- version table; TRUNCATE on none. The audit tables' triggers refuse UPDATE, DELETE
-- and TRUNCATE anyway (migrations 0002, 0006, 0008): this is the second lock, and the
-- one that holds should a trigger ever be missing.
-- Variables: app, schema (defaults in names.sql).
\ir names.sql
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO :"app";
REVOKE UPDATE, DELETE, TRUNCATE
  ON :"schema".kill_switch_audit, :"schema".evidence_views FROM :"app";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON :"schema".alembic_version FROM :"app";
