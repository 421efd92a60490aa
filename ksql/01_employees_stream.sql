-- 01 · The mirror topic as a STREAM
--
-- The link copies the topic `employees` from the primary to the secondary, byte for byte and
-- offset for offset. ksqlDB runs beside the secondary, so this STREAM reads the *mirror topic*.
-- A stream is the full history: every record is an event (a hire, a raise, a move).
--
-- The generator keys each record by employee id and writes the value as JSON. The key column is
-- declared KEY, so `employee_id` comes from the record key; ksqlDB ignores the copy in the value.
--
-- A mirror topic is read-only until it is promoted: nothing in this kit writes INTO it.
-- IF NOT EXISTS makes the file safe to run twice (`invoke ksql.apply` runs every file in order).

CREATE STREAM IF NOT EXISTS employees_stream (
    employee_id VARCHAR KEY,
    first_name  VARCHAR,
    last_name   VARCHAR,
    email       VARCHAR,
    department  VARCHAR,
    title       VARCHAR,
    salary      INT,
    hire_date   VARCHAR,          -- ISO date, e.g. 2015-03-01
    city        VARCHAR,
    country     VARCHAR,          -- ISO country code
    manager_id  VARCHAR           -- null for the first employee
) WITH (
    KAFKA_TOPIC  = 'employees',   -- the mirror topic (topology.yaml: link.mirrors)
    KEY_FORMAT   = 'KAFKA',       -- a plain UTF-8 string key
    VALUE_FORMAT = 'JSON'
);
