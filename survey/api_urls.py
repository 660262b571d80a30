"""The researcher API under /api/: studies, progress, exports, exclusion, the schema."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from . import apis
from .export import FORMATS

STUDY = "studies/<slug:slug>/"
PARTICIPANT = STUDY + "participants/<str:participant_id>/"

urlpatterns = [
    path("studies/", apis.StudyListApi.as_view(), name="study-list"),
    path(STUDY, apis.StudyDetailApi.as_view(), name="study-detail"),
    path(STUDY + "progress/", apis.StudyProgressApi.as_view(), name="study-progress"),
    re_path(
        r"^studies/(?P<slug>[-a-zA-Z0-9_]+)/export/(?P<file_format>{})/$".format("|".join(FORMATS)),
        apis.StudyExportApi.as_view(),
        name="study-export",
    ),
    path(STUDY + "participants/", apis.ParticipantListApi.as_view(), name="participant-list"),
    path(
        PARTICIPANT + "exclude/", apis.ParticipantExcludeApi.as_view(), name="participant-exclude"
    ),
    path(
        PARTICIPANT + "include/", apis.ParticipantIncludeApi.as_view(), name="participant-include"
    ),
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[apis.StaffWithPermission]),
        name="schema",
    ),
    path("docs/", apis.ApiDocsApi.as_view(), name="docs"),
]
