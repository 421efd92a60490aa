-- 02 · Each employee's latest state (Flink SQL; ksql/02_employees_latest.sql is the ksqlDB one)
--
-- The same mirror topic read as an upsert table: one row per key, the latest record wins. An
-- update replaces the row; a tombstone (the key with a null value) deletes it. `upsert-kafka`
-- always reads the topic from its first record, and needs the PRIMARY KEY (NOT ENFORCED: Flink
-- trusts the topic's keys, it checks nothing).
--
-- ksqlDB needs two objects here (a TABLE over the topic, then CREATE TABLE … AS SELECT to make it
-- queryable). Flink needs one: a query over this table computes the latest state when it runs,
-- so nothing is copied into a second topic. Its changelog shows inserts (+I), the old and new
-- row of an update (-U, +U) and deletes (-D).

CREATE TABLE IF NOT EXISTS employees_latest (
    employee_id STRING,
    first_name  STRING,
    last_name   STRING,
    email       STRING,
    department  STRING,
    title       STRING,
    salary      INT,
    hire_date   STRING,
    city        STRING,
    country     STRING,
    manager_id  STRING,
    PRIMARY KEY (employee_id) NOT ENFORCED
) WITH (
    'connector'                    = 'upsert-kafka',
    'topic'                        = 'employees',   -- the mirror topic again: a table over it
    'properties.bootstrap.servers' = '${bootstrap}',
    'key.format'                   = 'raw',
    'value.format'                 = 'json',
    'value.fields-include'         = 'EXCEPT_KEY'
);
