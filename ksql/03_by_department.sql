-- 03 · Headcount and salaries by department
--
-- An aggregate over the latest-state table, not over the stream: when an employee changes
-- department or leaves (a tombstone), ksqlDB takes the old row out of its old group before it
-- adds the new one, so headcount counts people, not records.
--
-- MAX cannot be applied to a table source (ksqlDB: "only to a stream source"), because a maximum
-- cannot be undone when a row leaves. COLLECT_LIST can, so the maximum is ARRAY_MAX of the list
-- of current salaries. COLLECT_LIST keeps at most ksql.functions.collect_list.limit values per
-- group (1000 by default): past that many employees in one department the max is approximate.

CREATE TABLE IF NOT EXISTS employees_by_department AS
    SELECT department,
           COUNT(*)                          AS headcount,
           ROUND(AVG(salary), 2)             AS avg_salary,
           ARRAY_MAX(COLLECT_LIST(salary))   AS max_salary
    FROM employees_table
    GROUP BY department
    EMIT CHANGES;
