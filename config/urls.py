from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path, re_path
from django.views.static import serve

from config.views import favicon, health

urlpatterns = [
    path("admin/", admin.site.urls),
    # Log in and out of the browsable API with a staff account. Outside the "api"
    # namespace: its templates reverse "rest_framework:login", a top-level namespace.
    path("api/auth/", include("rest_framework.urls")),
    path("api/", include(("survey.api_urls", "api"))),
    path("healthz/", health, name="health"),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("survey.urls")),
]

if settings.SERVE_MEDIA:
    # Stored images name their variant in their path (imported/<study>/<variant>/...), so
    # only staff may fetch them; participants get blinded copies through survey.views.
    urlpatterns.insert(
        0,
        re_path(
            r"^media/(?P<path>.*)$",
            staff_member_required(serve),
            {"document_root": settings.MEDIA_ROOT},
        ),
    )
