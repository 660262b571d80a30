"""The researcher's admin: studies, countries, items, participants, pages and rankings.

Answers are evidence, so they are read-only here: a researcher can exclude a
participant (with a reason, keeping every row they produced) or include them again,
but cannot edit or add rankings. Each study has a progress page and export downloads.
Image sets and images are in the generation app's admin; the study links to them.
"""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from generation.models import ImageSet, ModelVariant
from study.blinding import unblinding_words, variant_words
from study.spec import NAMES_VARIANT

from . import export, services
from .models import (
    AttentionCheck,
    Country,
    Page,
    PageImage,
    Participant,
    Ranking,
    Study,
    StudyMembership,
    SurveyItem,
)
from .permissions import is_member_anywhere, may_view_study, study_of, visible
from .progress import study_progress

# The researcher's lists are wide (the participant list has eight columns and a filter
# panel); the app list in a second sidebar would push their last columns off a 1280 px
# screen. The breadcrumbs and the home page still lead everywhere.
admin.site.enable_nav_sidebar = False

MESSAGE_EXCLUDED = "Excluded {count} participant(s); their answers are kept and flagged."
ERROR_REASON_REQUIRED = "Give a reason for the exclusion; it goes into every export row."
MESSAGE_INCLUDED = "Included {count} participant(s) again."
MESSAGE_RELEASED = (
    "Released {count} participant(s): the next browser arriving with the same recruit id "
    "continues their participation (and the browser they used before is logged out)."
)
MESSAGE_NOT_RELEASED = (
    "{count} selected participant(s) came without a recruit id; nothing to release."
)


def study_names(study: Study) -> set[str]:
    """Every name the study's variants go by (key, label, model id, adapter folder)."""
    names = set()
    for variant in ModelVariant.objects.filter(study_slug=study.slug):
        names |= variant_words(
            key=variant.key,
            label=variant.label,
            model=variant.base_model,
            adapter=variant.adapter_path or None,
        )
    return names


class StudyScopedAdmin(admin.ModelAdmin):
    """Rows of the studies the user may see: all with the global view permission,
    else those of the studies they are a member of (survey.permissions)."""

    def get_queryset(self, request):
        return visible(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return super().has_module_permission(request) or is_member_anywhere(request.user)

    def has_view_permission(self, request, obj=None):
        opts = self.opts
        codename = f"{opts.app_label}.view_{opts.model_name}"
        if obj is None:
            return super().has_view_permission(request) or is_member_anywhere(request.user)
        study = obj if isinstance(obj, Study) else study_of(obj)
        if not may_view_study(request.user, study):
            return False
        return (
            super().has_view_permission(request, obj)
            or request.user.has_perm(codename, obj)
        )


class StudyForm(forms.ModelForm):
    """The study's change form: what participants read is checked for unblinding words."""

    class Meta:
        model = Study
        fields = (
            "slug",
            "title",
            "consent_text",
            "instructions",
            "attention_checks",
            "seconds_per_page",
            "translations",
            "pages_per_participant",
            "answers_per_image_set",
            "completion_code",
            "recruitment_platform",
            "completion_url",
            "is_open",
        )

    def clean(self):
        cleaned = super().clean()
        study = self.instance if self.instance.pk else Study(slug=cleaned.get("slug", ""))
        names = study_names(study)
        for field in ("title", "consent_text", "instructions"):
            words = unblinding_words(cleaned.get(field) or "", names)
            for word in words:
                self.add_error(
                    field, NAMES_VARIANT.format(where="This study", key=field, word=word)
                )
        return cleaned


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CountryInline(admin.TabularInline):
    model = Country
    extra = 0
    fields = ("code", "name", "adjective", "language", "position")


class SurveyItemInline(admin.TabularInline):
    model = SurveyItem
    extra = 0
    fields = ("position", "key", "question", "best_end", "worst_end", "shows_prompt", "note")


@admin.register(Study)
class StudyAdmin(StudyScopedAdmin):
    form = StudyForm
    list_display = ("slug", "title", "is_open", "participant_count", "links")
    list_filter = ("is_open",)
    search_fields = ("slug", "title")
    readonly_fields = ("created_at", "updated_at", "links")
    inlines = [CountryInline, SurveyItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(participant_total=Count("participants"))

    @admin.display(description="participants", ordering="participant_total")
    def participant_count(self, study):
        return study.participant_total

    @admin.display(description="researcher pages")
    def links(self, study):
        if study.pk is None:
            return "-"
        links = format_html(
            '<a href="{}">participant link</a> · <a href="{}">progress</a> · '
            '<a href="{}">export CSV</a> · <a href="{}">export Parquet</a>',
            reverse("survey:study", kwargs={"study_id": study.public_id}),
            reverse("admin:survey_study_progress", args=[study.pk]),
            reverse("admin:survey_study_export", args=[study.pk, "csv"]),
            reverse("admin:survey_study_export", args=[study.pk, "parquet"]),
        )
        # Image sets are administered by the generation app, when it registers them.
        if self.admin_site.is_registered(ImageSet):
            links += format_html(
                ' · <a href="{}?{}">image sets</a>',
                reverse("admin:generation_imageset_changelist"),
                urlencode({"study_slug": study.slug}),
            )
        return links

    def get_urls(self):
        own = [
            path(
                "<int:study_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="survey_study_progress",
            ),
            path(
                "<int:study_id>/export/<str:file_format>/",
                self.admin_site.admin_view(self.export_view),
                name="survey_study_export",
            ),
        ]
        return own + super().get_urls()

    def _study(self, request, study_id) -> Study:
        study = get_object_or_404(Study, pk=study_id)
        if not may_view_study(request.user, study):
            raise Http404("No such study.")
        return study

    def progress_view(self, request, study_id):
        """Participants per country, answers per image set, attention, time per page."""
        study = self._study(request, study_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "study": study,
            "title": f"Progress of {study.slug}",
            "progress": study_progress(study=study),
        }
        return TemplateResponse(request, "admin/survey/study/progress.html", context)

    def export_view(self, request, study_id, file_format):
        """The rankings export of one study, streamed."""
        study = self._study(request, study_id)
        if file_format not in export.FORMATS:
            raise Http404(export.ERROR_UNKNOWN_FORMAT.format(format=file_format))
        return export.export_response(study=study, file_format=file_format)


@admin.register(StudyMembership)
class StudyMembershipAdmin(admin.ModelAdmin):
    """Which researcher may see which study (for staff without global permissions)."""

    list_display = ("study", "user", "can_change_participants", "created_at")
    list_filter = ("study", "can_change_participants")
    autocomplete_fields = ("user",)
    search_fields = ("user__username", "study__slug")


@admin.register(Country)
class CountryAdmin(StudyScopedAdmin):
    list_display = ("study", "code", "name", "adjective", "language", "position")
    list_filter = ("study", "language")
    search_fields = ("code", "name")


@admin.register(SurveyItem)
class SurveyItemAdmin(StudyScopedAdmin):
    list_display = ("study", "position", "key", "question", "best_end", "shows_prompt")
    list_filter = ("study",)


class ExclusionForm(forms.Form):
    """The reason a researcher gives for excluding participants."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept with the participant and written to every export row.",
    )


class ParticipantForm(forms.ModelForm):
    """The change form: only the exclusion can be edited, and it needs a reason."""

    class Meta:
        model = Participant
        fields = ("excluded", "exclusion_reason")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("excluded") and not cleaned.get("exclusion_reason", "").strip():
            self.add_error("exclusion_reason", ERROR_REASON_REQUIRED)
        if not cleaned.get("excluded"):
            cleaned["exclusion_reason"] = ""
        return cleaned


class AttentionCheckInline(ReadOnlyInline):
    model = AttentionCheck
    fields = ("key", "page", "expected", "answer", "passed", "answered_at")
    readonly_fields = fields


class PageInline(ReadOnlyInline):
    model = Page
    fields = ("index", "image_set", "created_at", "submitted_at", "page_ms")
    readonly_fields = fields


@admin.register(Participant)
class ParticipantAdmin(StudyScopedAdmin):
    list_display = (
        "public_id",
        "study",
        "country_code",
        "recruit_source",
        "started",
        "completed",
        "attention_ok",
        "excluded",
    )
    list_filter = ("study", "country", "recruit_source", "attention_ok", "excluded")
    list_select_related = ("study", "country")
    search_fields = ("public_id", "recruit_id", "completion_code")
    actions = ["exclude_participants", "include_participants", "release_participants"]
    form = ParticipantForm
    inlines = [PageInline, AttentionCheckInline]
    # The token is the participant's secret: never shown, not even to researchers.
    exclude = ("token",)
    readonly_fields = (
        "public_id",
        "study",
        "country",
        "language",
        "demographics",
        "recruit_source",
        "recruit_id",
        "recruit_study_id",
        "recruit_session_id",
        "created_at",
        "consent_at",
        "practice_done_at",
        "completed_at",
        "released_at",
        "completion_code",
        "attention_ok",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Changing a participant (exclusion) needs the change permission on them and
        # the right to see their study: global, or through a membership.
        if obj is None:
            return super().has_change_permission(request) or is_member_anywhere(request.user)
        if not may_view_study(request.user, obj.study):
            return False
        return super().has_change_permission(request, obj) or request.user.has_perm(
            "survey.change_participant", obj
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not (
            request.user.has_perm("survey.change_participant") or is_member_anywhere(request.user)
        ):
            for name in ("exclude_participants", "include_participants", "release_participants"):
                actions.pop(name, None)
        return actions

    def _changeable(self, request, queryset) -> list[Participant]:
        """The selected participants this user may change (others are left alone)."""
        participants = queryset.select_related("study")
        return [p for p in participants if self.has_change_permission(request, p)]

    @admin.action(description="Release to a new browser (the recruit id may continue elsewhere)")
    def release_participants(self, request, queryset):
        participants = self._changeable(request, queryset)
        with_id = [p for p in participants if p.recruit_id]
        with transaction.atomic():
            for participant in with_id:
                services.participant_release(participant=participant)
        self.message_user(request, MESSAGE_RELEASED.format(count=len(with_id)), messages.SUCCESS)
        if len(with_id) < len(participants):
            self.message_user(
                request,
                MESSAGE_NOT_RELEASED.format(count=len(participants) - len(with_id)),
                messages.WARNING,
            )

    # Short cells, so the list fits a 1280 px screen beside its filters.
    @admin.display(description="country", ordering="country__code")
    def country_code(self, participant):
        return participant.country.code if participant.country else "-"

    @admin.display(description="started", ordering="created_at")
    def started(self, participant):
        return _short_time(participant.created_at)

    @admin.display(description="completed", ordering="completed_at")
    def completed(self, participant):
        return _short_time(participant.completed_at)

    @admin.action(description="Exclude the selected participants (asks for a reason)")
    def exclude_participants(self, request, queryset):
        form = ExclusionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            participants = self._changeable(request, queryset)
            with transaction.atomic():
                for participant in participants:
                    services.participant_exclude(
                        participant=participant, reason=form.cleaned_data["reason"]
                    )
            self.message_user(request, MESSAGE_EXCLUDED.format(count=len(participants)))
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Exclude participants",
            "participants": queryset,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/survey/participant/exclude.html", context)

    @admin.action(description="Include the selected participants again")
    def include_participants(self, request, queryset):
        participants = self._changeable(request, queryset)
        with transaction.atomic():
            for participant in participants:
                services.participant_include(participant=participant)
        self.message_user(
            request, MESSAGE_INCLUDED.format(count=len(participants)), messages.SUCCESS
        )


def _short_time(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


class RankingInline(ReadOnlyInline):
    model = Ranking
    fields = ("item", "page_image", "rank")
    readonly_fields = fields
    show_change_link = False


class PageImageInline(ReadOnlyInline):
    model = PageImage
    fields = ("position", "image")
    readonly_fields = fields
    show_change_link = False


class ReadOnlyAdmin(StudyScopedAdmin):
    """Answers are evidence: viewed and filtered here, never added or edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Page)
class PageAdmin(ReadOnlyAdmin):
    list_display = ("participant", "index", "image_set", "created_at", "submitted_at", "page_ms")
    list_filter = ("participant__study", "participant__country")
    list_select_related = ("participant", "image_set")
    search_fields = ("participant__public_id", "image_set__prompt_id", "public_id")
    inlines = [PageImageInline, RankingInline]


@admin.register(Ranking)
class RankingAdmin(ReadOnlyAdmin):
    list_display = ("participant", "image_set", "item", "variant", "rank", "excluded")
    list_filter = (
        "page__participant__study",
        "item__key",
        "page__participant__country",
        "page__participant__excluded",
    )
    list_select_related = (
        "page__participant",
        "page__image_set",
        "item",
        "page_image__image__variant",
    )
    search_fields = ("page__participant__public_id", "page__image_set__prompt_id")

    @admin.display(ordering="page__participant")
    def participant(self, ranking):
        return ranking.page.participant

    @admin.display(description="image set")
    def image_set(self, ranking):
        return ranking.page.image_set

    @admin.display
    def variant(self, ranking):
        return ranking.page_image.image.variant.key

    @admin.display(boolean=True)
    def excluded(self, ranking):
        return ranking.page.participant.excluded
