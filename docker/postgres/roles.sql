-- camcanary's PostgreSQL roles (docs/service.md, "Database roles"). Run once as a
-- superuser in the camcanary database; running it again changes nothing:
--
--   psql -v ON_ERROR_STOP=1 -d camcanary -f roles.sql \
--        -v owner_password="$(cat owner_password)" -v app_password="$(cat app_password)"
--
-- The owner owns the schema and every table: it runs `camcanary migrate`. The app role
-- (what `camcanary serve` connects as) owns nothing, so it cannot drop or disable the
-- audit tables' triggers, alter a table or create one. New tables are readable and
-- appendable by the app and nothing more until grants.sql (run by the owner after
-- each migrate) grants UPDATE and DELETE where the service needs them.
-- Variables: owner, app, schema (defaults in names.sql), owner_password, app_password.
\ir names.sql
SELECT current_database() AS database \gset

SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER ROLE :"app" NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
\if :{?owner_password}
ALTER ROLE :"owner" PASSWORD :'owner_password';
\endif
\if :{?app_password}
ALTER ROLE :"app" PASSWORD :'app_password';
\endif

CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"owner";
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
GRANT USAGE ON SCHEMA :"schema" TO :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER ROLE :"owner" IN DATABASE :"database" SET search_path = :"schema";
ALTER ROLE :"app" IN DATABASE :"database" SET search_path = :"schema";

ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
  GRANT SELECT, INSERT ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
