"""Plays the MeXanimatoR app in the interop tests, with the app's own libraries.

Each subcommand does exactly what the Flask app does (see shared/seed):
  uri SECRET NAME ISSUER          pyotp provisioning_uri
  now SECRET                      the current code (pyotp)
  verify SECRET CODE              exit 0 if TOTP(secret).verify(code), else 1
  encrypt KEY PLAINTEXT           Fernet(key).encrypt(...) as text
  decrypt KEY TOKEN               Fernet(key).decrypt(token) as text
  store DB KEY USER SECRET        the app's Confirm: UPDATE ... enabled = 1, secret = bytes
  login DB KEY USER CODE          the app's login check, exit 0 accepted / 1 not
"""
import sqlite3
import sys

import pyotp
from cryptography.fernet import Fernet


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "uri":
        secret, name, issuer = args
        print(pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer))
    elif cmd == "now":
        print(pyotp.TOTP(args[0]).now())
    elif cmd == "verify":
        return 0 if pyotp.TOTP(args[0]).verify(args[1]) else 1
    elif cmd == "encrypt":
        print(Fernet(args[0].encode()).encrypt(args[1].encode()).decode())
    elif cmd == "decrypt":
        print(Fernet(args[0].encode()).decrypt(args[1].encode()).decode())
    elif cmd == "store":
        db, key, user, secret = args
        token = Fernet(key.encode()).encrypt(secret.encode())
        con = sqlite3.connect(db)
        cur = con.execute(
            "UPDATE account SET twofa_enabled = 1, twofa_secret = ? WHERE username = ?",
            (token, user),
        )
        assert cur.rowcount == 1
        con.commit()
    elif cmd == "login":
        db, key, user, code = args
        con = sqlite3.connect(db)
        row = con.execute(
            "SELECT twofa_secret FROM account WHERE username = ? AND twofa_enabled = 1", (user,)
        ).fetchone()
        if row is None:
            return 2
        secret = Fernet(key.encode()).decrypt(row[0]).decode()
        return 0 if pyotp.TOTP(secret).verify(code) else 1
    else:
        raise SystemExit(f"unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
