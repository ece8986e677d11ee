"""Times a master-key rotation of N accounts three ways, on copies of one database.

- mex2fa rotate-key --yes (the whole process)
- Python as the app's stack would do it: MultiFernet.rotate + executemany, one transaction
- the floor: the same database, one SQL-only UPDATE rewriting the column, no crypto

The database is built as the app builds it: pyotp.random_base32() secrets,
Fernet(key).encrypt(secret.encode()) stored as bytes (a SQLite BLOB, or
PostgreSQL bytea through psycopg). On PostgreSQL each run gets a fresh copy
(CREATE DATABASE ... TEMPLATE), and every contender connects over TCP without
TLS, as a local app would.
"""
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import pyotp
from cryptography.fernet import Fernet, MultiFernet

PY_ROTATE = r"""
import sqlite3, sys
from cryptography.fernet import Fernet, MultiFernet
db, old, new = sys.argv[1:4]
mf = MultiFernet([Fernet(new.encode()), Fernet(old.encode())])
con = sqlite3.connect(db, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
rows = con.execute("SELECT accountid, twofa_secret FROM account WHERE twofa_secret IS NOT NULL").fetchall()
con.executemany("UPDATE account SET twofa_secret = ? WHERE accountid = ?",
                ((mf.rotate(tok), i) for i, tok in rows))
con.execute("COMMIT")
"""

FLOOR = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE account SET twofa_secret = CAST(substr(twofa_secret, 2) || substr(twofa_secret, 1, 1) AS BLOB) WHERE twofa_secret IS NOT NULL")
con.execute("COMMIT")
"""


PG_ROTATE = r"""
import sys, psycopg
from cryptography.fernet import Fernet, MultiFernet
url, old, new = sys.argv[1:4]
mf = MultiFernet([Fernet(new.encode()), Fernet(old.encode())])
with psycopg.connect(url) as con:
    rows = con.execute("SELECT accountid, twofa_secret FROM account WHERE twofa_secret IS NOT NULL FOR UPDATE").fetchall()
    with con.cursor() as cur:
        cur.executemany("UPDATE account SET twofa_secret = %s WHERE accountid = %s",
                        [(mf.rotate(bytes(tok)), i) for i, tok in rows])
"""

# Same-length random bytes for every token, on the server: no crypto, no transfer.
PG_FLOOR = r"""
import sys, psycopg
with psycopg.connect(sys.argv[1]) as con:
    con.execute("UPDATE account SET twofa_secret = substring(decode(repeat(md5(random()::text), 8), 'hex') FROM 1 FOR length(twofa_secret)) WHERE twofa_secret IS NOT NULL")
"""


def pg_url(dbname):
    import psycopg.conninfo
    base = psycopg.conninfo.conninfo_to_dict(os.environ["MEX2FA_TEST_PG_URL"])
    return (f"postgres://{base['user']}:{base['password']}@{base['host']}:{base['port']}/{dbname}"
            "?sslmode=disable")


def pg_admin():
    import psycopg
    return psycopg.connect(pg_url("postgres"), autocommit=True)


def pg_build(n, key):
    """The base database, built once: accounts copied in, then vacuumed."""
    f = Fernet(key.encode())
    with pg_admin() as a:
        a.execute("DROP DATABASE IF EXISTS bench_base WITH (FORCE)")
        a.execute("CREATE DATABASE bench_base")
    import psycopg
    with psycopg.connect(pg_url("bench_base")) as con:
        con.execute("""CREATE TABLE account (
             accountid serial PRIMARY KEY, username text UNIQUE NOT NULL, email text,
             password text, twofa_enabled boolean DEFAULT false, twofa_secret bytea)""")
        with con.cursor().copy(
            "COPY account (username, email, password, twofa_enabled, twofa_secret) FROM STDIN"
        ) as copy:
            for i in range(n):
                copy.write_row((f"user{i}", f"user{i}@example.com", "pbkdf2:sha256:600000$x$y", True,
                                f.encrypt(pyotp.random_base32().encode())))
    with psycopg.connect(pg_url("bench_base"), autocommit=True) as con:
        con.execute("VACUUM ANALYZE account")
        size = con.execute("SELECT pg_database_size('bench_base')").fetchone()[0]
    return size


def pg_copy(name):
    with pg_admin() as a:
        a.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        a.execute(f"CREATE DATABASE {name} TEMPLATE bench_base")
        a.execute("CHECKPOINT")


def pg_sample(name, key):
    import psycopg
    mf = Fernet(key.encode())
    with psycopg.connect(pg_url(name)) as con:
        rows = con.execute("SELECT twofa_secret FROM account ORDER BY random() LIMIT 50").fetchall()
    return all(pyotp.TOTP(mf.decrypt(bytes(s)).decode()).now() for (s,) in rows)


MY_ROTATE = r"""
import sys, pymysql
from urllib.parse import urlparse, unquote
from cryptography.fernet import Fernet, MultiFernet
url, old, new = sys.argv[1:4]
u = urlparse(url)
con = pymysql.connect(host=u.hostname, port=u.port, user=unquote(u.username),
                      password=unquote(u.password), database=u.path.lstrip("/"))
mf = MultiFernet([Fernet(new.encode()), Fernet(old.encode())])
with con.cursor() as cur:
    cur.execute("SELECT accountid, twofa_secret FROM account WHERE twofa_secret IS NOT NULL FOR UPDATE")
    rows = cur.fetchall()
    cur.executemany("UPDATE account SET twofa_secret = %s WHERE accountid = %s",
                    [(mf.rotate(bytes(tok)), i) for i, tok in rows])
con.commit()
"""

# Same-length random bytes for every token, on the server: no crypto, no transfer.
MY_FLOOR = r"""
import sys, pymysql
from urllib.parse import urlparse, unquote
u = urlparse(sys.argv[1])
con = pymysql.connect(host=u.hostname, port=u.port, user=unquote(u.username),
                      password=unquote(u.password), database=u.path.lstrip("/"))
with con.cursor() as cur:
    cur.execute("UPDATE account SET twofa_secret = RANDOM_BYTES(LENGTH(twofa_secret)) WHERE twofa_secret IS NOT NULL")
con.commit()
"""


def my_url(dbname):
    from urllib.parse import urlparse
    u = urlparse(os.environ["MEX2FA_TEST_MYSQL_URL"])
    return f"mysql://{u.username}:{u.password}@{u.hostname}:{u.port}/{dbname}"


def my_connect(dbname=None):
    import pymysql
    from urllib.parse import urlparse, unquote
    u = urlparse(os.environ["MEX2FA_TEST_MYSQL_URL"])
    return pymysql.connect(host=u.hostname, port=u.port, user=unquote(u.username),
                           password=unquote(u.password), database=dbname, autocommit=True)


def my_build(n, key):
    """The base database, built once."""
    f = Fernet(key.encode())
    con = my_connect()
    with con.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS bench_base")
        cur.execute("CREATE DATABASE bench_base CHARACTER SET utf8mb4")
        cur.execute("""CREATE TABLE bench_base.account (
             accountid INT AUTO_INCREMENT PRIMARY KEY, username VARCHAR(255) UNIQUE NOT NULL,
             email VARCHAR(255), password VARCHAR(255), twofa_enabled TINYINT(1) DEFAULT 0,
             twofa_secret BLOB) ENGINE=InnoDB""")
        for start in range(0, n, 5000):
            cur.executemany(
                "INSERT INTO bench_base.account (username, email, password, twofa_enabled, twofa_secret) VALUES (%s, %s, %s, 1, %s)",
                [(f"user{i}", f"user{i}@example.com", "pbkdf2:sha256:600000$x$y",
                  f.encrypt(pyotp.random_base32().encode())) for i in range(start, min(n, start + 5000))])
        cur.execute("SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = 'bench_base'")
        return int(cur.fetchone()[0])


def my_copy(name):
    con = my_connect()
    with con.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        cur.execute(f"CREATE TABLE {name}.account LIKE bench_base.account")
        cur.execute(f"INSERT INTO {name}.account SELECT * FROM bench_base.account")


def my_sample(name, key):
    mf = Fernet(key.encode())
    con = my_connect(name)
    with con.cursor() as cur:
        cur.execute("SELECT twofa_secret FROM account ORDER BY RAND() LIMIT 50")
        rows = cur.fetchall()
    return all(pyotp.TOTP(mf.decrypt(bytes(s)).decode()).now() for (s,) in rows)


def build(path, n, key):
    f = Fernet(key.encode())
    con = sqlite3.connect(path)
    con.executescript(
        """CREATE TABLE account (
             accountid INTEGER PRIMARY KEY AUTOINCREMENT,
             username TEXT UNIQUE NOT NULL, email TEXT, password TEXT,
             twofa_enabled INTEGER DEFAULT 0, twofa_secret BLOB);"""
    )
    con.executemany(
        "INSERT INTO account (username, email, password, twofa_enabled, twofa_secret) VALUES (?, ?, 'pbkdf2:sha256:600000$x$y', 1, ?)",
        ((f"user{i}", f"user{i}@example.com", f.encrypt(pyotp.random_base32().encode())) for i in range(n)),
    )
    con.commit()
    con.close()


def timed(cmd, env=None):
    """Wall time and peak RSS (KiB) of one child process, measured on its own."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {err.decode()}")
    return wall, usage.ru_maxrss


def main():
    args = sys.argv[1:]
    backend = "sqlite"
    if args[:1] == ["--backend"]:
        backend, args = args[1], args[2:]
    exe = os.path.abspath(args[0])
    args = args[1:]
    runs = 5
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i : i + 2]
    sizes = [int(x) for x in args] or [200000]
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
            base = os.path.join(d, "base.db")
            t = time.perf_counter()
            if backend == "postgres":
                size = pg_build(n, old)
            elif backend == "mariadb":
                size = my_build(n, old)
            else:
                size = build(base, n, old) or os.path.getsize(base)
            print(f"N = {n} on {backend}: built {size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s; "
                  f"{runs} runs each, interleaved")
            newkey = os.path.join(d, "new.key")
            with open(newkey, "w") as fh:
                fh.write(new + "\n")
            os.chmod(newkey, 0o600)
            walls = {name: [] for name in ["mex2fa", "python", "floor"]}
            rss = 0
            # Interleaved, so that a noisy moment of the machine hits all three alike.
            for _ in range(runs):
                for name in walls:
                    if backend == "mariadb":
                        my_copy(f"bench_{name}")
                        url = my_url(f"bench_{name}")
                        if name == "mex2fa":
                            env = {"PATH": os.environ["PATH"], "TWOFA_MASTER_KEY": old,
                                   "MEX2FA_DB": url + "?ssl-mode=disable"}
                            cmd = [exe, "--quiet", "rotate-key", "--new-key-file", newkey, "--yes"]
                        elif name == "python":
                            env, cmd = None, [sys.executable, "-c", MY_ROTATE, url, old, new]
                        else:
                            env, cmd = None, [sys.executable, "-c", MY_FLOOR, url]
                        wall, peak = timed(cmd, env)
                        walls[name].append(wall)
                        if name == "mex2fa":
                            rss = max(rss, peak)
                        if name in ("mex2fa", "python"):
                            assert my_sample(f"bench_{name}", new), name
                        continue
                    if backend == "postgres":
                        pg_copy(f"bench_{name}")
                        url = pg_url(f"bench_{name}")
                        if name == "mex2fa":
                            env = {"PATH": os.environ["PATH"], "TWOFA_MASTER_KEY": old, "MEX2FA_DB": url}
                            cmd = [exe, "--quiet", "rotate-key", "--new-key-file", newkey, "--yes"]
                        elif name == "python":
                            env, cmd = None, [sys.executable, "-c", PG_ROTATE, url, old, new]
                        else:
                            env, cmd = None, [sys.executable, "-c", PG_FLOOR, url]
                        wall, peak = timed(cmd, env)
                        walls[name].append(wall)
                        if name == "mex2fa":
                            rss = max(rss, peak)
                        if name in ("mex2fa", "python"):
                            assert pg_sample(f"bench_{name}", new), name
                        continue
                    db = os.path.join(d, f"{name}.db")
                    shutil.copyfile(base, db)
                    os.sync()  # the copy's dirty pages must not be flushed by the run's fsync
                    if name == "mex2fa":
                        env = {"PATH": os.environ["PATH"], "TWOFA_MASTER_KEY": old, "MEX2FA_DB": db}
                        cmd = [exe, "--quiet", "rotate-key", "--new-key-file", newkey, "--yes"]
                    elif name == "python":
                        env, cmd = None, [sys.executable, "-c", PY_ROTATE, db, old, new]
                    else:
                        env, cmd = None, [sys.executable, "-c", FLOOR, db]
                    wall, peak = timed(cmd, env)
                    walls[name].append(wall)
                    if name == "mex2fa":
                        rss = max(rss, peak)
                    if name in ("mex2fa", "python"):
                        mf = Fernet(new.encode())
                        con = sqlite3.connect(db)
                        sample = con.execute("SELECT twofa_secret FROM account ORDER BY random() LIMIT 50").fetchall()
                        assert all(pyotp.TOTP(mf.decrypt(s).decode()).now() for (s,) in sample), name
                        con.close()
            m, p, f = (statistics.median(walls[k]) for k in ("mex2fa", "python", "floor"))
            low = {k: min(v) for k, v in walls.items()}
            print(f"  mex2fa rotate-key : {m:7.3f} s median ({low['mex2fa']:.3f} best)   peak RSS {rss / 1024:.1f} MB")
            print(f"  python MultiFernet: {p:7.3f} s median ({low['python']:.3f} best)")
            print(f"  SQL-only floor    : {f:7.3f} s median ({low['floor']:.3f} best)")
            print(f"  speed-up vs python: {p / m:5.1f}x   vs floor: {m / f:4.2f}x the floor (medians)")


if __name__ == "__main__":
    main()
