from django.contrib import admin
from django.urls import include, path, register_converter

from guanxi.api import api
from guanxi.core.converters import IdConverter
from guanxi.web import views as web_views

register_converter(IdConverter, "id")

urlpatterns = [
    path("", web_views.home, name="home"),
    path("today/", web_views.today, name="today"),
    path("accounts/", include("guanxi.web.auth_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("customers/", include("guanxi.customers.urls")),
    path("imports/", include("guanxi.customers.urls_import")),
    path("inbound/", include("guanxi.customers.urls_inbound")),
    path("data-quality/", include("guanxi.customers.urls_quality")),
    path("deals/", include("guanxi.sales.urls")),
    path("follow-up/", include("guanxi.engagement.urls")),
    path("pools/", include("guanxi.engagement.urls_pool")),
    path("assignment/", include("guanxi.engagement.urls_assignment")),
    path("notifications/", include("guanxi.messaging.urls")),
    path("approvals/", include("guanxi.approvals.urls")),
    path("settings/tokens/", web_views.api_tokens, name="api_tokens"),
    path("settings/customization/", include("guanxi.customization.urls")),
    path("settings/pipelines/", include("guanxi.sales.urls_settings")),
    path("settings/events/", include("guanxi.core.urls_events")),
    path("settings/automation/", include("guanxi.automation.urls")),
    path("settings/webhooks/", include("guanxi.webhooks.urls")),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("healthz", web_views.healthz, name="healthz"),
]

handler400 = "guanxi.web.views.bad_request"
handler403 = "guanxi.web.views.permission_denied"
handler404 = "guanxi.web.views.page_not_found"
handler500 = "guanxi.web.views.server_error"
