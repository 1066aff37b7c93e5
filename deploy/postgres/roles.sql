-- The stack's database roles and databases, made by the postgres image when its data volume is
-- new (it runs /docker-entrypoint-initdb.d as the superuser). The application and Temporal each
-- get a role of their own that owns its databases and nothing else: no superuser, no CREATEDB,
-- no CREATEROLE. Nobody but the owner (and the superuser) may connect to those databases, and
-- nobody but the superuser to `postgres` and `template1`, which PUBLIC may connect to (and make
-- temporary tables in) on a new cluster.
--
-- Safe to run again, as the superuser: it creates what is missing, takes away any privilege a
-- role should not have, and sets both passwords from the environment it runs in
-- (POSTGRES_JOURNEYS_PASSWORD, POSTGRES_TEMPORAL_PASSWORD). That environment is the postgres
-- container's, fixed when the container was made: after changing a password, recreate the
-- container first (`docker compose up -d postgresql`), then
--   docker compose exec postgresql psql -U postgres -d postgres -f /docker-entrypoint-initdb.d/10-roles.sql
-- (docs/operations.md, "Database roles"). Not on a volume made before this file: `journeys` is
-- the superuser that initialised such a volume (there is no `postgres` role), and PostgreSQL
-- refuses it NOSUPERUSER; docs/operations.md says how to move such a volume's data.
--
-- Without POSTGRES_TEMPORAL_PASSWORD (Temporal Cloud, whose stack has no Temporal services) it
-- makes no temporal role or databases, and leaves any that exist as they are; the stack's own
-- Temporal then stops at its schema job, which names the missing variable.
--
-- The names are psql variables with these defaults (`psql -v journeys_role=…` overrides them).

\set ON_ERROR_STOP 1
\if :{?journeys_role}
\else
  \set journeys_role journeys
\endif
\if :{?journeys_db}
\else
  \set journeys_db journeys
\endif
\if :{?temporal_role}
\else
  \set temporal_role temporal
\endif
\if :{?temporal_db}
\else
  \set temporal_db temporal
\endif
\if :{?temporal_visibility_db}
\else
  \set temporal_visibility_db temporal_visibility
\endif
\if :{?maintenance_db}
\else
  \set maintenance_db postgres
\endif
\if :{?template_db}
\else
  \set template_db template1
\endif

\getenv journeys_password POSTGRES_JOURNEYS_PASSWORD
\getenv temporal_password POSTGRES_TEMPORAL_PASSWORD
\if :{?journeys_password}
\else
  \set journeys_password ''
\endif
\if :{?temporal_password}
\else
  \set temporal_password ''
\endif
SELECT :'journeys_password' = '' AS journeys_missing, :'temporal_password' <> '' AS with_temporal
\gset
\if :journeys_missing
  \warn 'POSTGRES_JOURNEYS_PASSWORD is not set'
  SELECT 1 / 0 AS "POSTGRES_JOURNEYS_PASSWORD is not set";
\endif

-- Roles: created if missing, then (again) given exactly these attributes. On a volume where
-- the role initialised the cluster (the bootstrap superuser), PostgreSQL refuses NOSUPERUSER:
-- this stops there rather than leave the application a superuser (docs/operations.md says
-- how to move such a volume's data).
SELECT format('CREATE ROLE %I', :'journeys_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'journeys_role') \gexec
ALTER ROLE :"journeys_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  NOBYPASSRLS PASSWORD :'journeys_password';

-- Databases: created if missing, owned by their role (so it may create its tables in the
-- public schema, and the extensions PostgreSQL trusts, such as btree_gin, which Temporal's
-- visibility schema needs), and closed to everyone else (PUBLIC may connect to a new database).
SELECT format('CREATE DATABASE %I OWNER %I', :'journeys_db', :'journeys_role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'journeys_db') \gexec
ALTER DATABASE :"journeys_db" OWNER TO :"journeys_role";
REVOKE ALL ON DATABASE :"journeys_db" FROM PUBLIC;

\if :with_temporal
  SELECT format('CREATE ROLE %I', :'temporal_role')
   WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'temporal_role') \gexec
  ALTER ROLE :"temporal_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS PASSWORD :'temporal_password';
  SELECT format('CREATE DATABASE %I OWNER %I', :'temporal_db', :'temporal_role')
   WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'temporal_db') \gexec
  SELECT format('CREATE DATABASE %I OWNER %I', :'temporal_visibility_db', :'temporal_role')
   WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'temporal_visibility_db') \gexec
  ALTER DATABASE :"temporal_db" OWNER TO :"temporal_role";
  ALTER DATABASE :"temporal_visibility_db" OWNER TO :"temporal_role";
  REVOKE ALL ON DATABASE :"temporal_db", :"temporal_visibility_db" FROM PUBLIC;
\else
  \warn 'POSTGRES_TEMPORAL_PASSWORD is not set: no temporal role or databases (Temporal Cloud)'
\endif

-- The cluster's own databases: the superuser's alone (pg_isready needs no privilege on them).
REVOKE ALL ON DATABASE :"maintenance_db", :"template_db" FROM PUBLIC;
