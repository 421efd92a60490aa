-- The queries the walk-through runs, by name. `invoke ksql.apply` does not run this file;
-- `invoke ksql.push NAME` and `invoke ksql.pull NAME [--key K]` do, one query at a time.
--
-- Each query is introduced by directives:
--   -- name: NAME        what the tasks call it
--   -- key: VALUE        (pull queries) the default for ${key}; --key overrides it
--   -- offset: earliest  (push queries) start from the beginning of the topic, not from now
-- ${key} is ksqlDB's own variable syntax, so a query pasted into the ksql CLI works after
-- DEFINE key = 'E000001';
--
-- Push queries end in EMIT CHANGES and run until stopped (Ctrl-C or --limit).
-- Pull queries return what a table holds now, and end. They only run on tables made with
-- CREATE TABLE … AS SELECT (02, 03, 04), never on the stream or on employees_table.


-- ── push queries ────────────────────────────────────────────────────────────────────────

-- name: new_hires
-- Every Employee record as it arrives on the mirror. Run `invoke produce` in another terminal
-- and watch records cross the link and come out here.
SELECT employee_id, first_name, last_name, department, salary
FROM employees_stream
EMIT CHANGES;

-- name: employee_changes
-- offset: earliest
-- The latest-state table's changes: every insert and update of an employee, from the start.
SELECT employee_id, first_name, last_name, department, title, salary
FROM employees_latest
EMIT CHANGES;

-- name: department_changes
-- offset: earliest
-- The department aggregate changing as employees arrive, move and leave.
SELECT department, headcount, avg_salary, max_salary
FROM employees_by_department
EMIT CHANGES;


-- ── pull queries ────────────────────────────────────────────────────────────────────────

-- name: employee
-- key: E000001
-- One employee's current state, looked up by key. After a tombstone for this id, no row.
SELECT *
FROM employees_latest
WHERE employee_id = '${key}';

-- name: department
-- key: Engineering
-- One department's headcount and salaries, looked up by key.
SELECT *
FROM employees_by_department
WHERE department = '${key}';

-- name: departments
-- Every department: a pull query over the whole table (a table scan).
SELECT department, headcount, avg_salary, max_salary
FROM employees_by_department;

-- name: countries
-- Every country: a pull query over the whole table (a table scan).
SELECT country, headcount, avg_salary, max_salary
FROM employees_by_country;
