"""Browser tests: a real `manage.py serve` (embedded mode, its own var/ directory) driven by
Playwright through Debian's Chromium. Never downloads a browser: without /usr/bin/chromium
the tests skip and say why."""

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import ROOT, Procs, base_env, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "artifacts" / "screenshots"
PASSWORD = "browser-test-password-1"
USERS = {"viewer1": "viewer", "operator1": "operator", "risk1": "risk_manager"}

# Run once the server has seeded the demo: users per role, and a second policy version to roll back.
SETUP = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from compliance.services import Actor
from risk.policy import default_policy_yaml
from risk.services.config import config_version_activate, config_version_create
from trading.models import TradingAccount
account = TradingAccount.objects.get()
for name, role in {USERS!r}.items():
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.set_password({PASSWORD!r})
    user.save()
    user.groups.add(Group.objects.get(name=role))
    account.members.add(user)
if account.config_versions.count() == 1:
    v = config_version_create(account=account, content=default_policy_yaml() + "max_open_positions: 4\\n",
        author=None, reason="tighter: four positions", actor=Actor.system("browser-tests"))
    config_version_activate(version=v, actor=Actor.system("browser-tests"), reason="tighter: four positions")
"""


class Server:
    def __init__(self, url: str, db: Path):
        self.url = url
        self.db = db

    def query(self, sql: str, *args):
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql, args).fetchone()

    def account(self) -> dict:
        row = self.query("SELECT id, stop_level, stream_seq FROM trading_tradingaccount")
        return {"id": row[0], "stop_level": row[1], "stream_seq": row[2]}

    def equity(self) -> str:
        return self.query("SELECT equity FROM trading_equitysnapshot ORDER BY ts DESC, id DESC LIMIT 1")[0]

    def active_sha256(self) -> str:
        return self.query("SELECT sha256 FROM risk_configversion WHERE is_active")[0]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("browser")
    var = tmp / "var"
    env = base_env(var, GENESIS_TICK_SECONDS="1")
    procs = Procs(tmp)
    port = free_port()
    try:
        # serve migrates and seeds the demo; the users and the second version come meanwhile.
        procs.start("serve", ["manage.py", "serve", "--port", str(port)], env)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=5) as client:
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, what="/healthz")
        procs.run(["manage.py", "shell", "-c", SETUP], env)
        yield Server(url, var / "genesis.sqlite3")
    except AssertionError:
        print(procs.logs())
        raise
    finally:
        procs.stop()


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()


@pytest.fixture
def login(browser, server):
    """login(username) -> a logged-in page in its own browser context, on the overview."""
    contexts = []

    def _login(username: str):
        context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/accounts/*/")
        page.wait_for_function("window.Genesis && window.Genesis.live.connected")
        return page

    yield _login
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
