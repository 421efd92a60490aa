-- 04 · Headcount and salaries by country (Flink SQL; ksql/04_by_country.sql is the ksqlDB one)
--
-- The same aggregate as 03, grouped by the employee's country code, into its own topic. The
-- PRIMARY KEY is the country, so a pull query can look one country up: WHERE country = 'US'.

CREATE TABLE IF NOT EXISTS employees_by_country (
    country     STRING,
    headcount   BIGINT,
    avg_salary  DOUBLE,
    max_salary  INT,
    PRIMARY KEY (country) NOT ENFORCED
) WITH (
    'connector'                    = 'upsert-kafka',
    'topic'                        = 'employees_by_country',
    'properties.bootstrap.servers' = '${bootstrap}',
    'key.format'                   = 'raw',
    'value.format'                 = 'json'
);

INSERT INTO employees_by_country
    SELECT country,
           COUNT(*)                                 AS headcount,
           ROUND(AVG(CAST(salary AS DOUBLE)), 2)    AS avg_salary,
           MAX(salary)                              AS max_salary
    FROM employees_latest
    GROUP BY country;
