-- 03 · Headcount and salaries by department (Flink SQL; ksql/03_by_department.sql is ksqlDB's)
--
-- Two statements: a table over a new, ordinary topic on the secondary (never the mirror), and
-- the INSERT that fills it. The INSERT is a streaming job that runs in the SQL Gateway until the
-- lab goes down (`invoke sql.reset` stops it), as ksqlDB's CREATE TABLE … AS SELECT runs a
-- persistent query. The kit creates the topic, compacted, before the job starts.
--
-- The aggregate reads the latest-state table, not the stream: when an employee moves or leaves
-- (a tombstone), Flink retracts the old row from its old group before it adds the new one, so
-- headcount counts people, not records. Unlike ksqlDB, Flink's MAX accepts retractions (it keeps
-- every current value in state), so the maximum is exact with no list limit.

CREATE TABLE IF NOT EXISTS employees_by_department (
    department  STRING,
    headcount   BIGINT,
    avg_salary  DOUBLE,
    max_salary  INT,
    PRIMARY KEY (department) NOT ENFORCED
) WITH (
    'connector'                    = 'upsert-kafka',
    'topic'                        = 'employees_by_department',
    'properties.bootstrap.servers' = '${bootstrap}',
    'key.format'                   = 'raw',
    'value.format'                 = 'json'
);

INSERT INTO employees_by_department
    SELECT department,
           COUNT(*)                                 AS headcount,
           ROUND(AVG(CAST(salary AS DOUBLE)), 2)    AS avg_salary,
           MAX(salary)                              AS max_salary
    FROM employees_latest
    GROUP BY department;
