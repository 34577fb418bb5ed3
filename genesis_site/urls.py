from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from genesis_site import api, chatops, health, ops_api, views

ops_router = SimpleRouter(trailing_slash=False)
ops_router.register("deployments", ops_api.DeploymentViewSet, basename="deployment")

dashboard_patterns = (
    [
        path("", views.home, name="home"),
        path("accounts/<int:account_id>/", views.overview, name="overview"),
        path("accounts/<int:account_id>/state.json", views.overview_state, name="overview-state"),
    ],
    "dashboard",
)

api_v1_patterns = [
    path("ping", api.ping, name="ping"),
    path("chatops/slack", chatops.SlackCommandView.as_view(), name="chatops-slack"),
    path("logs", ops_api.LogsView.as_view(), name="logs"),
    path("", include("trading.api.urls")),
    path("", include("risk.api.urls")),
    path("", include("compliance.api.urls")),
    *ops_router.urls,
]

urlpatterns = [
    path("", include(dashboard_patterns)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
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
