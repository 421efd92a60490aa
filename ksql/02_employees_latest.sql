-- 02 · Each employee's latest state, as a TABLE
--
-- The same mirror topic read as a TABLE: one row per key, the latest record wins. An update to an
-- employee replaces the row; a tombstone (a record with the key and a null value) deletes it.
--
-- A table declared straight over a topic is not queryable by key (ksqlDB answers "table isn't
-- queryable"). The second statement derives a materialized copy with CREATE TABLE … AS SELECT:
-- that one answers pull queries, and its changelog shows updates and deletes as they arrive.
-- Its output topic (EMPLOYEES_LATEST) is a new, ordinary topic on the secondary, not the mirror.

CREATE TABLE IF NOT EXISTS employees_table (
    employee_id VARCHAR PRIMARY KEY,
    first_name  VARCHAR,
    last_name   VARCHAR,
    email       VARCHAR,
    department  VARCHAR,
    title       VARCHAR,
    salary      INT,
    hire_date   VARCHAR,
    city        VARCHAR,
    country     VARCHAR,
    manager_id  VARCHAR
) WITH (
    KAFKA_TOPIC  = 'employees',   -- the mirror topic again: a table over the same records
    KEY_FORMAT   = 'KAFKA',
    VALUE_FORMAT = 'JSON'
);

CREATE TABLE IF NOT EXISTS employees_latest AS
    SELECT *
    FROM employees_table
    EMIT CHANGES;
