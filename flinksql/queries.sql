-- The queries the walk-through runs, by name, in Flink SQL (ksql/queries.sql has the same names
-- in ksqlDB's dialect). `invoke sql.apply` does not run this file; `invoke sql.push NAME` and
-- `invoke sql.pull NAME [--key K]` do, one query at a time.
--
-- Each query is introduced by directives:
--   -- name: NAME        what the tasks call it
--   -- key: VALUE        (pull queries) the default for ${key}; --key overrides it
-- Where a query starts reading is in the SQL itself, as a table hint: /*+ OPTIONS(…) */.
--
-- Push queries are continuous SELECTs: Flink sends each change as it happens, marked +I (insert),
-- -U and +U (the old and new row of an update) and -D (delete). They run until stopped.
--
-- Pull queries: Flink cannot look a key up inside a running job's state (queryable state is
-- deprecated). What it documents instead is a bounded read: 'scan.bounded.mode' = 'latest-offset'
-- reads the topic up to its end as of the query's start, computes the table, and ends. The
-- answer is the same as ksqlDB's; it takes a scan of the topic, not a lookup. A query with that
-- hint is a pull query here, one without it a push query.


-- ── push queries ────────────────────────────────────────────────────────────────────────

-- name: new_hires
-- Every Employee record as it arrives on the mirror, from now on. Run `invoke produce` in another
-- terminal and watch records cross the link and come out here.
SELECT employee_id, first_name, last_name, department, salary
FROM employees_stream /*+ OPTIONS('scan.startup.mode' = 'latest-offset') */;

-- name: employee_changes
-- The latest-state table's changes: every insert, update and delete of an employee, from the
-- start (an upsert table always reads from the first record).
SELECT employee_id, first_name, last_name, department, title, salary
FROM employees_latest;

-- name: department_changes
-- The department aggregate changing as employees arrive, move and leave.
SELECT department, headcount, avg_salary, max_salary
FROM employees_by_department;


-- ── pull queries ────────────────────────────────────────────────────────────────────────

-- name: employee
-- key: E000001
-- One employee's current state, looked up by key. After a tombstone for this id, no row.
SELECT *
FROM employees_latest /*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */
WHERE employee_id = '${key}';

-- name: department
-- key: Engineering
-- One department's headcount and salaries, looked up by key.
SELECT *
FROM employees_by_department /*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */
WHERE department = '${key}';

-- name: departments
-- Every department: the whole table.
SELECT department, headcount, avg_salary, max_salary
FROM employees_by_department /*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */;

-- name: countries
-- Every country: the whole table.
SELECT country, headcount, avg_salary, max_salary
FROM employees_by_country /*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */;
