from django.contrib import admin
from django.urls import include, path

from config.views import favicon, health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(("survey.api_urls", "api"))),
    path("healthz/", health, name="health"),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("survey.urls")),
]
