"""What the conformance tests of tests/serve/ share: servers started as child processes,
waited for, and stopped; failures that show the server's own log."""

import json
import os
import signal
import socket
import subprocess
import sys
import time


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A child process whose output goes to log_path; stopped (SIGKILL) on exit unless
    stop() already ended it."""

    def __init__(self, argv, log_path, env=None):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        print("starting:", " ".join(argv), flush=True)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def log_tail(self, lines=40):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])

    def check_running(self, what):
        code = self.proc.poll()
        if code is not None:
            raise Failure(f"{what}: the server exited with {code} before it was ready; its log:\n"
                          + self.log_tail())

    def wait_for(self, ready, timeout_s, what):
        """Polls ready() (True when ready) every 0.2 s while the process runs."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_running(what)
            try:
                if ready():
                    return
            except Exception:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise Failure(f"{what}: not ready after {timeout_s} s; the server's log:\n"
                              + self.log_tail())
            time.sleep(0.2)

    def stop(self, timeout_s):
        """SIGTERM; returns the exit code, or None when it did not exit within timeout_s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def run(argv, what, timeout_s=600, env=None):
    """Runs a command to its end; Failure with its output when it exits non-zero."""
    print("running:", " ".join(argv), flush=True)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s,
                       env=env)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        raise Failure(f"{what}: exit {p.returncode}:\n{out}")
    return out


def read_json_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(test):
    """Runs test(); prints a Failure as one clear message and exits 1."""
    try:
        test()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("PASS", flush=True)
