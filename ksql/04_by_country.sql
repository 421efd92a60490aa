-- 04 · Headcount and salaries by country
--
-- The same aggregate as 03, grouped by the employee's country code. GROUP BY makes `country`
-- the table's key, so a pull query can look one country up: WHERE country = 'US'.

CREATE TABLE IF NOT EXISTS employees_by_country AS
    SELECT country,
           COUNT(*)                          AS headcount,
           ROUND(AVG(salary), 2)             AS avg_salary,
           ARRAY_MAX(COLLECT_LIST(salary))   AS max_salary
    FROM employees_table
    GROUP BY country
    EMIT CHANGES;
