-- The role and schema names roles.sql and grants.sql use, unless given with -v.
\if :{?owner}
\else
\set owner camcanary_owner
\endif
\if :{?app}
\else
\set app camcanary_app
\endif
\if :{?schema}
\else
\set schema camcanary
\endif
