"""Plays the MeXanimatoR app on any of its databases, with the app's own
libraries: pyotp, cryptography's Fernet, and the driver the app would use
(sqlite3, psycopg for PostgreSQL, PyMySQL for MariaDB/MySQL).

The database is a SQLite file path, a postgres:// URL or a mysql:// URL
(with its password); FORM is the secret column's form (blob or text) and
FLAG the enabled column's type (int or bool), as the app would bind them.

  store DB KEY USER SECRET FORM FLAG   the app's Confirm: one UPDATE, enabled on,
                                       the Fernet token as bytes (blob) or str (text)
  login DB KEY USER CODE               the app's login: exit 0 accepted, 1 not,
                                       2 if 2FA is off for the user
  writer DB KEY FORM FLAG STOP USER... the app confirming new secrets again and
                                       again (each its own transaction) until the
                                       file STOP exists; prints how many it wrote
"""
import os
import sqlite3
import sys
import time
from urllib.parse import unquote, urlparse

import pyotp
from cryptography.fernet import Fernet


def connect(db):
    """A DB-API connection and its parameter marker."""
    if db.startswith(("postgres://", "postgresql://")):
        import psycopg

        return psycopg.connect(db), "%s"
    if db.startswith(("mysql://", "mariadb://")):
        import pymysql

        u = urlparse(db)
        return (
            pymysql.connect(
                host=u.hostname,
                port=u.port or 3306,
                user=unquote(u.username or ""),
                password=unquote(u.password or ""),
                database=u.path.lstrip("/"),
            ),
            "%s",
        )
    return sqlite3.connect(db), "?"


def confirm(con, p, key, user, secret, form, flag):
    token = Fernet(key.encode()).encrypt(secret.encode())
    if form == "text":
        token = token.decode()
    on = True if flag == "bool" else 1
    cur = con.cursor()
    cur.execute(
        f"UPDATE account SET twofa_enabled = {p}, twofa_secret = {p} WHERE username = {p}",
        (on, token, user),
    )
    assert cur.rowcount == 1, cur.rowcount
    con.commit()


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "store":
        db, key, user, secret, form, flag = args
        con, p = connect(db)
        confirm(con, p, key, user, secret, form, flag)
    elif cmd == "login":
        db, key, user, code = args
        con, p = connect(db)
        cur = con.cursor()
        cur.execute(
            f"SELECT twofa_enabled, twofa_secret FROM account WHERE username = {p}", (user,)
        )
        row = cur.fetchone()
        if row is None or not row[0]:
            return 2
        token = row[1]
        if isinstance(token, str):
            token = token.encode()
        secret = Fernet(key.encode()).decrypt(bytes(token)).decode()
        return 0 if pyotp.TOTP(secret).verify(code) else 1
    elif cmd == "writer":
        db, key, form, flag, stop, *users = args
        con, p = connect(db)
        n = 0
        while not os.path.exists(stop):
            confirm(con, p, key, users[n % len(users)], pyotp.random_base32(), form, flag)
            n += 1
            time.sleep(0.002)
        print(n)
    else:
        raise SystemExit(f"unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
