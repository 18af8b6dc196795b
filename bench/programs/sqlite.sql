-- sqlite.sql: a database workload for the benchmark suite, run by Debian's
-- sqlite3 on an in-memory database (its page cache, parser and sorter all
-- allocate with malloc):
--   sqlite3 -cmd ".parameter set @scale SCALE" :memory: ".read sqlite.sql"
-- (500000 rows at scale 1.)
-- Inserts, two indexes, joins, a GROUP BY, sorts, updates and deletes;
-- prints a check line that depends only on the work done.
create temp table p as select max(1000, cast(500000 * @scale as integer)) as n;
create table t(id integer primary key, a text, b real, c integer);
create table u(k integer primary key, v text);
with recursive s(x) as (select 1 union all select x + 1 from s where x < (select n from p))
  insert into t select x, printf('row%08d-%s', x * 7919 % (select n from p), hex(x * 31)), x * 1.5, x % 1000 from s;
with recursive s(x) as (select 0 union all select x + 1 from s where x < 999)
  insert into u select x, printf('group-%04d', x) from s;
create index ta on t(a);
create index tc on t(c, b);
create temp table g as
  select u.v as v, count(*) as n, sum(t.b) as sb, max(t.a) as ma from t join u on t.c = u.k group by u.v;
update t set a = a || '-x', b = b * 2 where id % 3 = 0;
delete from t where id % 7 = 0;
create temp table o as select a, b from t order by b desc, a limit 100000;
select 'bench: check=' || (select count(*) from t) || '-' || (select sum(n) from g) || '-'
  || (select count(*) from o) || '-' || (select max(a) from t) || '-' || (select min(ma) from g)
  || '-' || (select cast(sum(b) as integer) from t where c < 50);
