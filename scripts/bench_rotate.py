"""Times a master-key rotation of N accounts three ways, on copies of one database.

- mex2fa rotate-key --yes (the whole process)
- Python as the app's stack would do it: MultiFernet.rotate + executemany, one transaction
- the floor: the same database, one SQL-only UPDATE rewriting the column, no crypto

The database is built as the app builds it: pyotp.random_base32() secrets,
Fernet(key).encrypt(secret.encode()) stored as BLOB.
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
    exe = os.path.abspath(sys.argv[1])
    args = sys.argv[2:]
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
            build(base, n, old)
            print(f"N = {n}: built {os.path.getsize(base) / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s; "
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
