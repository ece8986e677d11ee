"""Bulk Fernet checks for the key-lifecycle tests, with the app's own library.

  decrypt KEY     stdin: a JSON array of tokens (strings); stdout: a JSON array with,
                  for each, what Fernet(key).decrypt(token) returns (no TTL, exactly as
                  the app's login does) as text, or null when it raises InvalidToken.

Tokens are handed to Fernet as bytes, as the app reads them from a BLOB column.
"""
import json
import sys

from cryptography.fernet import Fernet, InvalidToken


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd != "decrypt":
        raise SystemExit(f"unknown command {cmd}")
    fernet = Fernet(args[0].encode())
    out = []
    for token in json.load(sys.stdin):
        try:
            out.append(fernet.decrypt(token.encode()).decode("utf-8", "replace"))
        except InvalidToken:
            out.append(None)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
