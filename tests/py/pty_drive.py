"""Runs a command on a pseudo-terminal and answers its prompts, for the tests
of mex2fa's interactive paths (code prompt after the QR, disable's question,
the hidden master-key prompt).

stdin:  JSON {"argv": [...], "env": {...}, "cwd": "...", "timeout": 20,
              "secret": optional TOTP secret, "steps": [[EXPECT, SEND], ...]}
        EXPECT is a regex the output must show (since the last step) before
        SEND is typed. A named group (?P<secret>...) remembers a TOTP secret;
        in SEND, {code} is its current code (pyotp) and {wrong} a code that is
        not valid now or in the neighbouring steps. Text is typed once the
        terminal's echo is off (every prompt here hides its input), or after 1 s.
stdout: JSON {"exit": N, "output": "...", "missed": null or the EXPECT not seen}
"""
import json
import os
import pty
import re
import select
import sys
import termios
import time

import pyotp


def read_until(fd, pattern, buf, deadline):
    """Reads from fd into buf until pattern matches after buf's start mark."""
    start = buf["mark"]
    while True:
        m = re.search(pattern, buf["text"][start:])
        if m:
            buf["mark"] = start + m.end()
            return m
        left = deadline - time.time()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return None
        if not chunk:
            return None
        buf["text"] += chunk.decode("utf-8", "replace")


def wait_for_no_echo(fd, limit=1.0):
    """A hidden prompt is printed before echo is switched off: wait for the
    switch (as a person would), so that typing cannot race it."""
    end = time.time() + limit
    while time.time() < end:
        if not termios.tcgetattr(fd)[3] & termios.ECHO:
            return
        time.sleep(0.01)


def safe_now():
    # Not within a second of a 30-second boundary: the code stays valid
    # while the binary checks it.
    while 30 - time.time() % 30 < 1.0:
        time.sleep(0.1)


def main():
    spec = json.load(sys.stdin)
    deadline = time.time() + spec.get("timeout", 20)
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(spec["cwd"])
        os.execve(spec["argv"][0], spec["argv"], spec["env"])
    buf = {"text": "", "mark": 0}
    secret = spec.get("secret")
    missed = None
    for expect, send in spec["steps"]:
        m = read_until(fd, expect, buf, deadline)
        if m is None:
            missed = expect
            break
        if "secret" in m.groupdict() and m.group("secret"):
            secret = m.group("secret")
        if "{code}" in send or "{wrong}" in send:
            safe_now()
            totp = pyotp.TOTP(secret)
            t = time.time()
            near = {totp.at(t + d * 30) for d in range(-3, 4)}
            wrong = next(c for c in (str(d) * 6 for d in range(10)) if c not in near)
            send = send.replace("{code}", totp.at(t)).replace("{wrong}", wrong)
        if send:
            wait_for_no_echo(fd)
            os.write(fd, send.encode())
    # Drain the rest of the output, then collect the exit status.
    while True:
        try:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf["text"] += chunk.decode("utf-8", "replace")
    if time.time() >= deadline:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"exit": code, "output": buf["text"], "missed": missed}))


if __name__ == "__main__":
    main()
