-- 01 · The mirror topic as a stream (Flink SQL; ksql/01_employees_stream.sql is the ksqlDB one)
--
-- Flink has no STREAM keyword: every object is a TABLE, and what makes this one a stream is its
-- connector. `kafka` reads the topic as an append-only log: every record is an event (a hire, a
-- raise, a move), as ksqlDB's STREAM does. The Flink SQL Gateway runs beside the secondary, so
-- this table reads the *mirror topic*.
--
-- The generator keys each record by employee id (a plain UTF-8 string: the `raw` format) and
-- writes the value as JSON. `value.fields-include = EXCEPT_KEY` takes `employee_id` from the
-- record key and ignores the copy in the value, like ksqlDB's KEY column.
--
-- ${bootstrap} is the secondary's address: the kit fills it in (`invoke status` shows it). In
-- the Flink SQL client, write the address there yourself.
-- A tombstone (a null value) has no JSON to read: this append-only table skips it.
-- IF NOT EXISTS makes the file safe to run twice (`invoke sql.apply` runs every file in order).

CREATE TABLE IF NOT EXISTS employees_stream (
    employee_id STRING,
    first_name  STRING,
    last_name   STRING,
    email       STRING,
    department  STRING,
    title       STRING,
    salary      INT,
    hire_date   STRING,           -- ISO date, e.g. 2015-03-01
    city        STRING,
    country     STRING,           -- ISO country code
    manager_id  STRING            -- null for the first employee
) WITH (
    'connector'                    = 'kafka',
    'topic'                        = 'employees',   -- the mirror topic (topology.yaml: link.mirrors)
    'properties.bootstrap.servers' = '${bootstrap}',
    'scan.startup.mode'            = 'earliest-offset',
    'key.format'                   = 'raw',
    'key.fields'                   = 'employee_id',
    'value.format'                 = 'json',
    'value.fields-include'         = 'EXCEPT_KEY'
);
