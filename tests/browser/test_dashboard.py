"""The dashboard in a real browser against a real server: live updates without reloads,
controls with confirmation, permissions, and re-sync after a dropped WebSocket."""

import re
import time
from decimal import Decimal

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.slow


def use_control(page, name: str, text: str = "browser test", *, scope=None):
    """Click a control, fill the dialog's reason or comment, confirm, and return the result."""
    (scope or page).get_by_role("button", name=name, exact=True).first.click()
    dialog = page.locator("#control-dialog")
    field = dialog.locator("textarea:visible").first
    field.fill(text)
    dialog.locator("#control-submit").click()
    toast = page.locator("#toast.ok")
    toast.wait_for()
    return toast.inner_text()


def test_login_and_the_equity_figure_changes_without_a_reload(login):
    page = login("operator1")
    page.evaluate("window.__sameDocument = true")
    equity = page.locator("#equity")
    first = equity.inner_text()
    assert re.fullmatch(r"[\d,]+\.\d\d", first)
    page.wait_for_function(f"document.querySelector('#equity').textContent !== {first!r}", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("#live").inner_text() == "live"


def test_halt_and_release(login, server):
    page = login("risk1")
    assert "cancelled" in use_control(page, "Halt", "browser drill")
    page.wait_for_function("document.querySelector('#stop-level').textContent === 'halt'")
    assert server.account()["stop_level"] == "halt"
    shot(page, "overview-halted")
    assert "trades normally" in use_control(page, "Release", "drill over")
    page.wait_for_function("document.querySelector('#stop-level').textContent === 'trading'")
    assert server.account()["stop_level"] == "none"


def test_an_alert_acknowledged_in_one_browser_leaves_the_open_list_in_another(login, server):
    first, second = login("risk1"), login("operator1")
    use_control(first, "Halt", "raise a kill switch alert")  # the halt raises a kill-switch alert
    use_control(first, "Release", "alert raised")
    for page in (first, second):
        page.get_by_role("link", name=re.compile("^Alerts")).click()
        page.wait_for_function("window.Genesis && window.Genesis.live.connected")
    row = first.locator("[data-testid=alerts-table] tr[data-alert]").first
    alert_id = row.get_attribute("data-alert")
    other_row = second.locator(f"tr[data-alert='{alert_id}']")
    assert other_row.count() == 1
    shot(first, "alerts")
    use_control(first, "Acknowledge", "seen in browser one", scope=row)
    other_row.wait_for(state="detached", timeout=5_000)  # gone from the second browser, no reload
    assert server.query("SELECT status FROM risk_alert WHERE id = ?", int(alert_id))[0] == "acknowledged"
    second.get_by_test_id("tab-acknowledged").click()
    second.locator(f"tr[data-alert='{alert_id}']").wait_for()
    shot(second, "alerts-acknowledged")


def test_roll_back_a_config_version_and_see_the_new_active_hash(login, server):
    page = login("risk1")
    page.get_by_role("link", name="Risk", exact=True).click()
    before = server.active_sha256()
    row = page.locator("tr[data-version='1']")
    shot(page, "risk")
    use_control(page, "Roll back", "back to the default profile", scope=row)
    after = server.active_sha256()
    assert after != before
    page.locator("tr.active-row[data-version='1']").wait_for(timeout=5_000)
    assert page.locator("tr.active-row code").first.inner_text() == after[:12]
    page.get_by_role("link", name="Overview").click()
    assert page.get_by_test_id("config").get_attribute("data-sha256") == after


def test_a_viewer_sees_controls_disabled_with_the_reason(login):
    page = login("viewer1")
    for name in ("Pause entries", "Halt", "Flatten", "Release"):
        button = page.locator(f"button[data-denied]:has-text('{name}')").first
        assert button.is_disabled()
        assert "may not" in button.get_attribute("title")
    shot(page, "overview-viewer")
    page.get_by_role("link", name="Strategies").click()
    assert page.locator("button[data-control]").count() == 0
    assert page.locator("button[data-denied]").count() >= 1


def test_after_a_10_s_websocket_drop_the_page_matches_the_database_within_5_s(login, server):
    page, other = login("operator1"), login("risk1")
    page.evaluate("window.Genesis.live.drop(10000)")
    page.wait_for_function("!window.Genesis.live.connected")
    dropped_at = time.monotonic()
    use_control(other, "Halt", "while the first page is offline")  # an event the first page misses
    assert page.locator("#stop-level").inner_text() == "trading"  # it did not hear of it
    page.wait_for_function("window.Genesis.live.connected", timeout=15_000)
    assert time.monotonic() - dropped_at >= 9.5
    reconnected = time.monotonic()
    page.wait_for_function("document.querySelector('#stop-level').textContent === 'halt'", timeout=5_000)

    def matches() -> bool:
        shown = Decimal(page.locator("#equity").inner_text().replace(",", ""))
        return shown == Decimal(server.equity()).quantize(Decimal("0.01"))

    deadline = reconnected + 5
    while not matches():
        assert time.monotonic() < deadline, "page did not match the database within 5 s of reconnecting"
        time.sleep(0.1)
    use_control(other, "Release", "drill over")


def test_screenshot_of_every_page(login):
    page = login("risk1")
    shot(page, "overview")
    for name in ("Orders", "Strategies", "Risk", "Deployments", "System"):
        page.get_by_role("link", name=name, exact=True).click()
        page.wait_for_load_state()
        shot(page, name.lower())
    order_link = page.locator("a[href*='/orders/']").first
    page.get_by_role("link", name="Orders", exact=True).click()
    first_order = page.locator("[data-testid=orders-table] td a").first
    if first_order.count():
        first_order.click()
        page.wait_for_load_state()
        shot(page, "order-detail")
    assert order_link is not None
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Pause entries").click()
    shot(page, "dialog-pause-entries")
    page.keyboard.press("Escape")
    page.context.clear_cookies()
    page.goto("/login/")
    shot(page, "login")
