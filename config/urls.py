from django.contrib import admin
from django.urls import include, path

from config.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(("survey.api_urls", "api"))),
    path("healthz/", health, name="health"),
    path("", include("survey.urls")),
]
