"""Plays the MeXanimatoR app in the interop tests, with the app's own libraries.

Each subcommand does exactly what the Flask app does with pyotp and Fernet:
  uri SECRET NAME ISSUER          pyotp provisioning_uri
  now SECRET                      the current code (pyotp)
  verify SECRET CODE              exit 0 if TOTP(secret).verify(code), else 1
  encrypt KEY PLAINTEXT           Fernet(key).encrypt(...) as text
  decrypt KEY TOKEN               Fernet(key).decrypt(token) as text
  store DB KEY USER SECRET        the app's Confirm: UPDATE ... enabled = 1, secret = bytes
  login DB KEY USER CODE          the app's login check, exit 0 accepted / 1 not

Added for the interop and vectors suites:
  random                          pyotp.random_base32(), as the app's Enroll
  at SECRET UNIXTIME              the code for that time (pyotp)
  encrypt-at KEY PLAINTEXT TS     Fernet(key).encrypt_at_time(...), a chosen timestamp
  store-text DB KEY USER SECRET   as store, but the token as str (TEXT deployments)
  uris                            stdin: JSON [[secret, name, issuer], ...];
                                  stdout: JSON [provisioning_uri, ...]
  try-decrypt KEY TOKEN           exit 0 and the plaintext (may be empty), or 1 on InvalidToken
"""
import json
import sqlite3
import sys

import pyotp
from cryptography.fernet import Fernet, InvalidToken


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
    elif cmd == "random":
        print(pyotp.random_base32())
    elif cmd == "at":
        print(pyotp.TOTP(args[0]).at(int(args[1])))
    elif cmd == "encrypt-at":
        key, plaintext, ts = args
        print(Fernet(key.encode()).encrypt_at_time(plaintext.encode(), int(ts)).decode())
    elif cmd == "try-decrypt":
        try:
            print(Fernet(args[0].encode()).decrypt(args[1].encode()).decode())
        except InvalidToken:
            return 1
    elif cmd == "uris":
        print(
            json.dumps(
                [
                    pyotp.TOTP(s).provisioning_uri(name=n, issuer_name=i)
                    for s, n, i in json.load(sys.stdin)
                ]
            )
        )
    elif cmd in ("store", "store-text"):
        db, key, user, secret = args
        token = Fernet(key.encode()).encrypt(secret.encode())
        if cmd == "store-text":
            token = token.decode()
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
