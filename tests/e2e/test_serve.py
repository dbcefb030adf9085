"""What ``make run`` does, end to end: migrate, load the demo, serve it with Daphne."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "DJANGO_SETTINGS_MODULE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["PEERCODE_DATA_DIR"] = str(tmp_path_factory.mktemp("serve-data"))
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def served(embedded_env: dict[str, str]) -> Iterator[dict[str, str]]:
    manage(embedded_env, "migrate", "--noinput", "-v0")
    demo = manage(embedded_env, "demo", "load")
    login = re.search(r"Demo login: (\S+) / (\S+)", demo)
    assert login, demo
    agent = manage(embedded_env, "agent", "create", "--project", "demo", "e2e-agent")
    token = re.search(r"\b(pc_[A-Za-z0-9_-]+)", agent)
    assert token, agent
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "peercode.asgi:application",
        ],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("Daphne did not start listening within 60 s")
    yield {
        "base": f"http://127.0.0.1:{port}",
        "username": login.group(1),
        "password": login.group(2),
        "token": token.group(1),
        "pid": str(server.pid),
    }
    if server.poll() is None:
        server.kill()
        server.wait(timeout=10)


def get_json(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_agent_token_reads_the_demo_plan_over_http(served):
    status, body = get_json(f"{served['base']}/api/v1/projects/demo/plan/", served["token"])
    assert status == 200
    assert sum(len(wave) for wave in body["waves"]) == 12
    assert body["critical_path"]["keys"]


def test_a_wrong_token_gets_a_401_that_says_how_to_get_one(served):
    status, body = get_json(f"{served['base']}/api/v1/projects/", "pc_not-a-real-token")
    assert status == 401
    assert "agent create" in body["error"]["message"]


def test_the_printed_demo_login_opens_the_dashboard(served):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{served['base']}/admin/login/?next=/projects/demo/"
    page = opener.open(login_url, timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf.group(1),
            "username": served["username"],
            "password": served["password"],
            "next": "/projects/demo/",
        }
    ).encode()
    request = urllib.request.Request(login_url, data=form, headers={"Referer": login_url})
    with opener.open(request, timeout=10) as response:
        body = response.read().decode()
        assert response.url.endswith("/projects/demo/")
    assert "Phase 1" in body


def test_daphne_exits_promptly_on_sigterm(served):
    pid = int(served["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if finished:
            return
        time.sleep(0.1)
    pytest.fail("Daphne was still running 10 s after SIGTERM")
