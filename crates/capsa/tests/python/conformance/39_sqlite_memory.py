# expect: [[["ada",9.5],["cy",8.25]],[3,8.25],true]
import sqlite3
db = sqlite3.connect(":memory:")
db.execute("create table t (id integer primary key, name text, score real)")
db.executemany("insert into t (name, score) values (?, ?)", [("ada", 9.5), ("bob", 7.0), ("cy", 8.25)])
rows = db.execute("select name, score from t where score > ? order by score desc", (7.5,)).fetchall()
[rows, db.execute("select count(*), avg(score) from t").fetchone(), sqlite3.sqlite_version_info >= (3, 0, 0)]
