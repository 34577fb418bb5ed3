"""Dashboard pages and controls (SPEC O1). Pages read through genesis_site.dashboard; every
control checks the user's permission for its action (genesis_site.roles), parses a form and
calls the one service behind it. A refusal answers 403 and changes nothing; bad input or a
refusal by the service answers 400 with a message naming the problem."""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from compliance.services import Actor
from genesis_site import dashboard
from genesis_site.deadletter import FailedTaskConflict
from genesis_site.deadletter import failed_task_discard as failed_task_discard_service
from genesis_site.deadletter import failed_task_retry as failed_task_retry_service
from genesis_site.forms import CommentForm, OrderFilterForm, PauseEntriesForm, ReasonForm
from genesis_site.models import FailedTask
from genesis_site.roles import ACTIONS, user_may
from risk.alerts import alert_acknowledge, alert_resolve
from risk.exceptions import RiskError
from risk.models import Alert, AlertStatus, ConfigVersion
from risk.selectors import config_version_active
from risk.services.config import config_version_activate, config_version_rollback
from risk.services.stops import trading_flatten, trading_halt, trading_pause_entries, trading_release
from trading.exceptions import TradingError
from trading.markets import UnknownMarket
from trading.models import Strategy, TradingAccount
from trading.selectors import accounts_visible_to
from trading.serializers import overview_data

NAV = (
    ("overview", "Overview"),
    ("orders", "Orders"),
    ("strategies", "Strategies"),
    ("risk", "Risk"),
    ("alerts", "Alerts"),
    ("deployments", "Deployments"),
    ("system", "System"),
)
ACTION_LABELS = {
    "pause_entries": "pause entries",
    "halt": "halt trading",
    "flatten": "flatten positions",
    "release": "release a stop",
    "pause_strategy": "pause or resume strategies",
    "acknowledge_alert": "acknowledge or resolve alerts",
    "activate_config": "activate a configuration",
    "rollback_config": "roll back a configuration",
    "handle_failed_task": "retry or discard failed tasks",
}


def _visible_account(request, account_id: int) -> TradingAccount:
    account = accounts_visible_to(request.user).filter(pk=account_id).first()
    if account is None:
        raise Http404("No such account.")
    return account


def _permissions(user) -> dict:
    """For each action: allowed, and the explanation shown on a disabled control."""
    roles = ", ".join(sorted(user.groups.values_list("name", flat=True))) or "no role"
    return {
        action: {
            "allowed": user_may(user, action),
            "why": f"Your role ({roles}) may not {ACTION_LABELS.get(action, action)}: "
            f"it needs the permission {ACTIONS[action]}.",
        }
        for action in ACTIONS
    }


def _render_page(request, account: TradingAccount, page: str, context: dict, *, seq: int):
    """The full page, or with ?fragment=1 only its live region (what the page re-reads after
    a live event, a gap or a reconnect). The stream number was read before the data."""
    may = _permissions(request.user)
    base = {
        "account": account,
        "page": page,
        "seq": seq,
        "open_alerts": dashboard.alerts_open_count(account_id=account.pk),
        "may": may,
        "read_only": not any(p["allowed"] for p in may.values()),
        "roles": ", ".join(sorted(request.user.groups.values_list("name", flat=True))) or "no role",
        **context,
    }
    if request.GET.get("fragment"):
        response = render(request, f"dashboard/_{page}.html", base)
    else:
        base.update(accounts=accounts_visible_to(request.user).order_by("name"), nav=NAV)
        response = render(request, f"dashboard/{page}.html", base)
    response["X-Stream-Seq"] = str(seq)
    response["X-Open-Alerts"] = str(base["open_alerts"])
    return response


def home(request):
    account = accounts_visible_to(request.user).order_by("pk").first()
    if account is None:
        return render(request, "dashboard/no_account.html")
    return redirect("dashboard:overview", account_id=account.pk)


# --- pages ---------------------------------------------------------------------------------------


@never_cache
def overview(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    return _render_page(request, account, "overview", {"initial": _overview_state(account, seq)}, seq=seq)


def _overview_state(account: TradingAccount, seq: int) -> dict:
    account.refresh_from_db()
    return {
        **overview_data(account=account),
        "seq": seq,
        "open_alerts": dashboard.alerts_open_count(account_id=account.pk),
    }


@never_cache
def overview_state(request, account_id: int):
    """The overview's full state, for the page to re-sync after a gap in the live stream."""
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    return JsonResponse(_overview_state(account, seq))


@never_cache
def orders(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    form = OrderFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    context = {"filter_form": form, **dashboard.orders_page(account=account, filters=filters)}
    response = _render_page(request, account, "orders", context, seq=seq)
    if form.is_bound and not form.is_valid():
        response.status_code = 400
    return response


@never_cache
def order_detail(request, account_id: int, order_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    detail = dashboard.order_detail(account=account, order_id=order_id)
    if detail is None:
        raise Http404("No such order on this account.")
    return _render_page(request, account, "order_detail", detail, seq=seq)


@never_cache
def strategies(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    return _render_page(request, account, "strategies", dashboard.strategies_page(account=account), seq=seq)


@never_cache
def risk(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    diff_from, diff_to = _int_or_none(request.GET.get("from")), _int_or_none(request.GET.get("to"))
    context = dashboard.risk_page(account=account, diff_from=diff_from, diff_to=diff_to)
    return _render_page(request, account, "risk", context, seq=seq)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@never_cache
def alerts(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    status = request.GET.get("status", AlertStatus.OPEN)
    if status not in AlertStatus.values:
        status = AlertStatus.OPEN
    return _render_page(request, account, "alerts", dashboard.alerts_page(account=account, status=status), seq=seq)


@never_cache
def deployments(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    return _render_page(request, account, "deployments", dashboard.deployments_page(account=account), seq=seq)


@never_cache
def system(request, account_id: int):
    account = _visible_account(request, account_id)
    seq = dashboard.stream_seq(account_id=account.pk)
    return _render_page(request, account, "system", dashboard.system_page(), seq=seq)


# --- controls ------------------------------------------------------------------------------------


def _wants_json(request) -> bool:
    return request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def _result(request, account: TradingAccount, status: int, message: str, *, back: str | None = None):
    """JSON for the page's script; for a plain form post, a message and a redirect back (or
    the refusal page with its status)."""
    if _wants_json(request):
        return JsonResponse({"ok": status == 200, "message": message}, status=status)
    back = back or reverse("dashboard:overview", args=[account.pk])
    if status == 200:
        messages.success(request, message)
        return redirect(back)
    return render(request, "dashboard/refused.html", {"message": message, "back": back}, status=status)


def _form_errors(form) -> str:
    return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())


def _control(action: str, form_class, run):
    """A control view: permission (403, nothing changed), form (400), then the service
    (its refusal is a 400 naming the rule). `run(request, account, data, **kwargs)` calls the
    service and returns the success message."""

    @require_POST
    def view(request, account_id: int, **kwargs):
        account = _visible_account(request, account_id)
        back = request.POST.get("next") if str(request.POST.get("next", "")).startswith("/") else None
        if not user_may(request.user, action):
            return _result(request, account, 403, _permissions(request.user)[action]["why"], back=back)
        form = form_class(request.POST)
        if not form.is_valid():
            return _result(request, account, 400, _form_errors(form), back=back)
        try:
            message = run(request, account, form.cleaned_data, **kwargs)
        except (RiskError, TradingError, FailedTaskConflict) as exc:
            return _result(request, account, 400, str(exc), back=back)
        except UnknownMarket as exc:
            return _result(request, account, 400, f"symbol: {exc.args[0]}", back=back)
        return _result(request, account, 200, message, back=back)

    return view


def _actor(request) -> Actor:
    return Actor.from_user(request.user)


def _pause_entries(request, account, data):
    trading_pause_entries(
        account_id=account.pk,
        actor=_actor(request),
        reason=data["reason"],
        symbol=data.get("symbol") or None,
        minutes=data.get("minutes"),
    )
    if data.get("symbol"):
        return f"Entries on {data['symbol']} paused for {data['minutes']} min."
    return "Entries paused: no new positions; exits keep working."


def _halt(request, account, data):
    result = trading_halt(account_id=account.pk, actor=_actor(request), reason=data["reason"])
    return f"Trading halted: no new orders; {result.orders_text()}."


def _flatten(request, account, data):
    result = trading_flatten(account_id=account.pk, actor=_actor(request), reason=data["reason"])
    return f"Flattened: trading halted; {result.orders_text()}; {result.positions_text()}."


def _release(request, account, data):
    trading_release(account_id=account.pk, actor=_actor(request), reason=data["reason"])
    return "Released: the account trades normally again."


def _strategy(account, strategy_id: int) -> Strategy:
    strategy = Strategy.objects.filter(account=account, pk=strategy_id).first()
    if strategy is None:
        raise Http404("No such strategy on this account.")
    return strategy


def _strategy_pause(request, account, data, strategy_id: int):
    strategy = _strategy(account, strategy_id)
    trading_pause_entries(account_id=account.pk, actor=_actor(request), reason=data["reason"], strategy=strategy.name)
    return f"Strategy {strategy.name} paused: no new entries; its exits keep working."


def _strategy_resume(request, account, data, strategy_id: int):
    strategy = _strategy(account, strategy_id)
    trading_release(account_id=account.pk, actor=_actor(request), reason=data["reason"], strategy=strategy.name)
    return f"Strategy {strategy.name} resumed."


def _alert(account, alert_id: int) -> Alert:
    alert = Alert.objects.filter(account=account, pk=alert_id).first()
    if alert is None:
        raise Http404("No such alert on this account.")
    return alert


def _alert_acknowledge(request, account, data, alert_id: int):
    alert = alert_acknowledge(alert_id=_alert(account, alert_id).pk, user=request.user, comment=data["comment"])
    return f"Alert {alert.pk} acknowledged."


def _alert_resolve(request, account, data, alert_id: int):
    alert = alert_resolve(alert_id=_alert(account, alert_id).pk, user=request.user, comment=data["comment"])
    return f"Alert {alert.pk} resolved."


def _config(account, version: int) -> ConfigVersion:
    target = ConfigVersion.objects.filter(account=account, version=version).first()
    if target is None:
        raise Http404("No such configuration version on this account.")
    return target


def _config_activate(request, account, data, version: int):
    target = _config(account, version)
    active = config_version_active(account_id=account.pk)
    if active and target.version < active.version:
        raise RiskError(f"version: v{version} is older than the active v{active.version}; use rollback")
    if target.is_active:
        raise RiskError(f"version: v{version} is already the active version")
    config_version_activate(version=target, actor=_actor(request), reason=data["reason"])
    return f"Configuration v{target.version} active ({target.sha256[:12]})."


def _config_rollback(request, account, data, version: int):
    target, active = _config(account, version), config_version_active(account_id=account.pk)
    if active and target.version > active.version:
        raise RiskError(f"version: v{version} is newer than the active v{active.version}; activate it instead")
    target = config_version_rollback(account=account, version=version, actor=_actor(request), reason=data["reason"])
    return f"Rolled back to configuration v{target.version} ({target.sha256[:12]})."


def _failed_task(failed_task_id: int) -> FailedTask:
    failed = FailedTask.objects.filter(pk=failed_task_id).first()
    if failed is None:
        raise Http404("No such failed task.")
    return failed


def _failed_task_retry(request, account, data, failed_task_id: int):
    failed = failed_task_retry_service(
        failed_task_id=_failed_task(failed_task_id).pk, actor=_actor(request), reason=data["reason"]
    )
    return f"Task {failed.task_name} sent again (failed task {failed.pk})."


def _failed_task_discard(request, account, data, failed_task_id: int):
    failed = failed_task_discard_service(
        failed_task_id=_failed_task(failed_task_id).pk, actor=_actor(request), reason=data["reason"]
    )
    return f"Failed task {failed.pk} ({failed.task_name}) discarded."


pause_entries = _control("pause_entries", PauseEntriesForm, _pause_entries)
halt = _control("halt", ReasonForm, _halt)
flatten = _control("flatten", ReasonForm, _flatten)
release = _control("release", ReasonForm, _release)
strategy_pause = _control("pause_strategy", ReasonForm, _strategy_pause)
strategy_resume = _control("pause_strategy", ReasonForm, _strategy_resume)
alert_ack = _control("acknowledge_alert", CommentForm, _alert_acknowledge)
alert_close = _control("acknowledge_alert", CommentForm, _alert_resolve)
config_activate = _control("activate_config", ReasonForm, _config_activate)
config_rollback = _control("rollback_config", ReasonForm, _config_rollback)
failed_task_retry = _control("handle_failed_task", ReasonForm, _failed_task_retry)
failed_task_discard = _control("handle_failed_task", ReasonForm, _failed_task_discard)


# --- errors --------------------------------------------------------------------------------------


def handler404(request, exception=None):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"No such resource: {request.path}"}}, status=404
        )
    return render(request, "404.html", status=404)


def handler500(request):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "Internal error; it has been logged."}}, status=500
        )
    return render(request, "500.html", status=500)
