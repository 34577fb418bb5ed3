from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from genesis_site import api, chatops, health, ops_api, views

ops_router = SimpleRouter(trailing_slash=False)
ops_router.register("deployments", ops_api.DeploymentViewSet, basename="deployment")
ops_router.register("failed-tasks", ops_api.FailedTaskViewSet, basename="failed-task")

_account = "accounts/<int:account_id>/"
dashboard_patterns = (
    [
        path("", views.home, name="home"),
        path(_account, views.overview, name="overview"),
        path(f"{_account}state.json", views.overview_state, name="overview-state"),
        path(f"{_account}orders/", views.orders, name="orders"),
        path(f"{_account}orders/<int:order_id>/", views.order_detail, name="order-detail"),
        path(f"{_account}strategies/", views.strategies, name="strategies"),
        path(f"{_account}risk/", views.risk, name="risk"),
        path(f"{_account}alerts/", views.alerts, name="alerts"),
        path(f"{_account}deployments/", views.deployments, name="deployments"),
        path(f"{_account}system/", views.system, name="system"),
        path(f"{_account}controls/pause-entries", views.pause_entries, name="pause-entries"),
        path(f"{_account}controls/halt", views.halt, name="halt"),
        path(f"{_account}controls/flatten", views.flatten, name="flatten"),
        path(f"{_account}controls/release", views.release, name="release"),
        path(f"{_account}strategies/<int:strategy_id>/pause", views.strategy_pause, name="strategy-pause"),
        path(f"{_account}strategies/<int:strategy_id>/resume", views.strategy_resume, name="strategy-resume"),
        path(f"{_account}alerts/<int:alert_id>/acknowledge", views.alert_ack, name="alert-acknowledge"),
        path(f"{_account}alerts/<int:alert_id>/resolve", views.alert_close, name="alert-resolve"),
        path(f"{_account}config/<int:version>/activate", views.config_activate, name="config-activate"),
        path(f"{_account}config/<int:version>/rollback", views.config_rollback, name="config-rollback"),
        path(f"{_account}failed-tasks/<int:failed_task_id>/retry", views.failed_task_retry, name="failed-task-retry"),
        path(
            f"{_account}failed-tasks/<int:failed_task_id>/discard",
            views.failed_task_discard,
            name="failed-task-discard",
        ),
    ],
    "dashboard",
)

api_v1_patterns = [
    path("ping", api.ping, name="ping"),
    path("chatops/slack", chatops.SlackCommandView.as_view(), name="chatops-slack"),
    path("logs", ops_api.LogsView.as_view(), name="logs"),
    path("error-budget", ops_api.ErrorBudgetView.as_view(), name="error-budget"),
    path("", include("trading.api.urls")),
    path("", include("risk.api.urls")),
    path("", include("compliance.api.urls")),
    *ops_router.urls,
    path("", include("validation.api.urls")),
]

urlpatterns = [
    path("", include(dashboard_patterns)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("validation/", include("validation.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/v1/", include((api_v1_patterns, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

handler404 = "genesis_site.views.handler404"
handler500 = "genesis_site.views.handler500"
