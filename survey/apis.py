"""The researcher REST API: studies, progress, export downloads, participant exclusion.

One class per operation. Every endpoint is for staff only (session or token
authentication); each operation also needs a Django permission, checked against the
object it touches (the study, the participant), so an object-level permission backend
can give a researcher some studies and not others. Requests are throttled per user
through the shared cache (Redis when CACHE_URL is set).
"""

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework import serializers as drf_serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from . import export, services
from .authentication import ThrottledTokenAuthentication
from .models import Participant, Study
from .permissions import may_view_study
from .progress import study_progress
from .serializers import (
    ExclusionSerializer,
    ParticipantSerializer,
    StudyProgressSerializer,
    StudySerializer,
)

ERROR_EXCLUDED_FILTER = "The excluded filter must be true or false."
VIEW_STUDY = "survey.view_study"
CHANGE_PARTICIPANT = "survey.change_participant"
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


class ResearcherThrottle(UserRateThrottle):
    """Requests per researcher; rates in settings REST_FRAMEWORK DEFAULT_THROTTLE_RATES."""

    scope = "researcher"


class ExportThrottle(UserRateThrottle):
    """Exports read the whole study, so they have a rate of their own."""

    scope = "researcher-export"


class StaffWithPermission(BasePermission):
    """Active staff holding the view's ``required_permission``, globally or for the object."""

    message = "This part of the API is for the study's researchers (staff accounts) only."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)

    def has_object_permission(self, request, view, obj):
        permission = view.required_permission
        return request.user.has_perm(permission) or request.user.has_perm(permission, obj)


class ResearcherApi(APIView):
    """What every researcher API shares: staff, a permission per object, throttling."""

    # Token first, so a request without credentials gets 401 and a WWW-Authenticate
    # header naming the scheme, as API clients expect; browsers use the session.
    authentication_classes = [ThrottledTokenAuthentication, SessionAuthentication]
    permission_classes = [StaffWithPermission]
    throttle_classes = [ResearcherThrottle]
    required_permission = VIEW_STUDY

    def study(self, slug: str) -> Study:
        """The study named in the URL, after checking the user may see it."""
        study = get_object_or_404(Study, slug=slug)
        self.check_object_permissions(self.request, study)
        return study


class StudyListApi(ResearcherApi):
    @extend_schema(operation_id="studies_list", responses=StudySerializer(many=True))
    def get(self, request):
        """The studies this researcher may see, with their countries and items."""
        studies = Study.objects.prefetch_related("countries", "items")
        if not request.user.has_perm(VIEW_STUDY):
            studies = [s for s in studies if request.user.has_perm(VIEW_STUDY, s)]
        return Response(StudySerializer(studies, many=True).data)


class StudyDetailApi(ResearcherApi):
    @extend_schema(operation_id="studies_retrieve", responses=StudySerializer)
    def get(self, request, slug):
        """One study with its countries and items."""
        return Response(StudySerializer(self.study(slug)).data)


class StudyProgressApi(ResearcherApi):
    @extend_schema(operation_id="studies_progress", responses=StudyProgressSerializer)
    def get(self, request, slug):
        """Participants per country, answers per image set against the target,
        attention-check failures and median time per page."""
        progress = study_progress(study=self.study(slug))
        return Response(StudyProgressSerializer(progress).data)


class StudyExportApi(ResearcherApi):
    throttle_classes = [ResearcherThrottle, ExportThrottle]

    @extend_schema(
        operation_id="studies_export",
        parameters=[
            OpenApiParameter(
                "file_format", OpenApiTypes.STR, OpenApiParameter.PATH, enum=export.FORMATS
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV export"),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(
                OpenApiTypes.BINARY, description="Parquet export"
            ),
        },
    )
    def get(self, request, slug, file_format):
        """The rankings export (one row per participant, image set, item and variant),
        streamed; excluded participants and failed attention checks are flagged."""
        return export.export_response(study=self.study(slug), file_format=file_format)


class ParticipantPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class ParticipantListApi(ResearcherApi):
    @extend_schema(
        operation_id="participants_list",
        parameters=[
            OpenApiParameter("country", OpenApiTypes.STR, description="A country code."),
            OpenApiParameter("excluded", OpenApiTypes.BOOL),
        ],
        responses=ParticipantSerializer(many=True),
    )
    def get(self, request, slug):
        """The study's participants, oldest first, with how many pages each answered."""
        participants = (
            Participant.objects.filter(study=self.study(slug))
            .select_related("country")
            .annotate(pages_answered=Count("pages", filter=Q(pages__submitted_at__isnull=False)))
            .order_by("created_at", "pk")
        )
        if country := request.query_params.get("country"):
            participants = participants.filter(country__code=country)
        if (excluded := request.query_params.get("excluded")) is not None:
            if excluded.lower() not in TRUE | FALSE:
                raise drf_serializers.ValidationError({"excluded": [ERROR_EXCLUDED_FILTER]})
            participants = participants.filter(excluded=excluded.lower() in TRUE)
        paginator = ParticipantPagination()
        page = paginator.paginate_queryset(participants, request, view=self)
        return paginator.get_paginated_response(ParticipantSerializer(page, many=True).data)


class ParticipantChangeApi(ResearcherApi):
    required_permission = CHANGE_PARTICIPANT

    def participant(self, slug: str, participant_id: str) -> Participant:
        """The participant of the study in the URL, after checking both permissions:
        viewing the study, and changing its participants."""
        study = get_object_or_404(Study, slug=slug)
        if not may_view_study(self.request.user, study):
            # As for a study that does not exist: no hint that it does.
            raise exceptions.NotFound()
        participant = get_object_or_404(
            Participant.objects.select_related("country"), study=study, public_id=participant_id
        )
        self.check_object_permissions(self.request, participant)
        return participant

    def answer(self, participant: Participant) -> Response:
        participant.pages_answered = participant.pages.filter(submitted_at__isnull=False).count()
        return Response(ParticipantSerializer(participant).data)


class ParticipantExcludeApi(ParticipantChangeApi):
    @extend_schema(
        operation_id="participants_exclude",
        request=ExclusionSerializer,
        responses=ParticipantSerializer,
    )
    def post(self, request, slug, participant_id):
        """Exclude a participant from the analysis with a reason; their answers are kept
        and flagged in the export."""
        participant = self.participant(slug, participant_id)
        given = ExclusionSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        participant = services.participant_exclude(
            participant=participant, reason=given.validated_data["reason"]
        )
        return self.answer(participant)


class ParticipantIncludeApi(ParticipantChangeApi):
    @extend_schema(
        operation_id="participants_include", request=None, responses=ParticipantSerializer
    )
    def post(self, request, slug, participant_id):
        """Include an excluded participant again."""
        participant = services.participant_include(
            participant=self.participant(slug, participant_id)
        )
        return self.answer(participant)


class ApiDocsApi(APIView):
    """A readable page of the API's operations, built from the OpenAPI schema.

    Served from this site with no script or style sheet from elsewhere, so it works on
    a machine without internet access (Swagger UI and Redoc load from a CDN).
    """

    permission_classes = [StaffWithPermission]
    renderer_classes = [TemplateHTMLRenderer]
    template_name = "survey/api_docs.html"

    @extend_schema(exclude=True)
    def get(self, request):
        schema = SchemaGenerator().get_schema(request=request, public=True)
        operations = [
            {
                "method": method.upper(),
                "path": path,
                "summary": operation.get("description", "").strip(),
                "id": operation.get("operationId", ""),
                "parameters": operation.get("parameters", []),
                "responses": sorted(operation.get("responses", {})),
            }
            for path, methods in schema["paths"].items()
            for method, operation in methods.items()
        ]
        return Response({"info": schema["info"], "operations": operations})
