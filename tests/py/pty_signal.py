"""Runs a command on a pseudo-terminal, waits for its prompt, ends it with a
signal and reports the terminal's settings afterwards: the tests that a
prompt killed by Ctrl-C, SIGTERM or SIGHUP leaves echo on (tests/faults.rs).
Python's standard library only.

stdin:  JSON {"argv": [...], "env": {...}, "cwd": "...", "timeout": 20,
              "prompt": REGEX, "line": true|false, "action": "ctrl-c"|"TERM"|"HUP"|"INT"}
        The action is taken once REGEX shows and, for a hidden prompt
        ("line": false), the prompt has switched echo off; a question read
        as a line ("line": true) switches nothing. "ctrl-c" types the key.
stdout: JSON {"exit": N (negative: the signal that ended it),
              "output": "...", "missed": null or REGEX,
              "echo": bool, "icanon": bool, "isig": bool}  (after the exit)
"""
import json
import os
import pty
import re
import select
import signal
import sys
import termios
import time


def main():
    spec = json.load(sys.stdin)
    deadline = time.time() + spec.get("timeout", 20)
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(spec["cwd"])
        os.execve(spec["argv"][0], spec["argv"], spec["env"])
    text = ""
    missed = spec["prompt"]
    while time.time() < deadline:
        if re.search(spec["prompt"], text):
            missed = None
            break
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        text += chunk.decode("utf-8", "replace")
    if missed is None:
        if spec.get("line"):
            # Nothing to wait for but the read that follows the prompt.
            time.sleep(0.2)
        else:
            # The prompt is printed before echo goes off: wait for that.
            while time.time() < deadline and termios.tcgetattr(fd)[3] & termios.ECHO:
                time.sleep(0.01)
        action = spec["action"]
        if action == "ctrl-c":
            os.write(fd, b"\x03")
        else:
            os.kill(pid, getattr(signal, "SIG" + action))
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
        text += chunk.decode("utf-8", "replace")
    if time.time() >= deadline:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    # The pty pair outlives the child: its settings are what a shell would
    # find on getting the terminal back.
    lflag = termios.tcgetattr(fd)[3]
    print(
        json.dumps(
            {
                "exit": os.waitstatus_to_exitcode(status),
                "output": text,
                "missed": missed,
                "echo": bool(lflag & termios.ECHO),
                "icanon": bool(lflag & termios.ICANON),
                "isig": bool(lflag & termios.ISIG),
            }
        )
    )


if __name__ == "__main__":
    main()
