"""Per-study permissions: which researcher may see and change which study.

A user holding a survey permission globally (a Django group or user permission, or a
superuser) has it on every study. A researcher limited to some studies gets no global
survey permission and a StudyMembership per study instead; the backend below then
grants, on that study and the rows that belong to it, the view permissions of the
survey app and (when the membership allows) the change permission on participants.
The admin (survey.admin), the API (survey.apis) and the exports check permissions on
the object, so all three follow the same rule.
"""

from django.contrib.auth.backends import BaseBackend
from django.db.models import Q, QuerySet

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

VIEW_STUDY = "survey.view_study"
CHANGE_PARTICIPANT = "survey.change_participant"
# What a membership grants on its study's rows; changing the study itself (title,
# countries) stays with global permissions.
MEMBER_VIEW = {
    "survey.view_study",
    "survey.view_country",
    "survey.view_surveyitem",
    "survey.view_participant",
    "survey.view_page",
    "survey.view_pageimage",
    "survey.view_ranking",
    "survey.view_attentioncheck",
}
MEMBER_CHANGE = {CHANGE_PARTICIPANT}
# How each model reaches its study (for querysets filtered to a user's studies).
STUDY_PATHS = {
    Study: "",
    Country: "study",
    SurveyItem: "study",
    Participant: "study",
    Page: "participant__study",
    AttentionCheck: "participant__study",
    PageImage: "page__participant__study",
    Ranking: "page__participant__study",
}


def study_of(obj) -> Study | None:
    """The study an object of the survey app belongs to, or None."""
    if isinstance(obj, Study):
        return obj
    if isinstance(obj, Country | SurveyItem | Participant):
        return obj.study
    if isinstance(obj, Page | AttentionCheck):
        return obj.participant.study
    if isinstance(obj, PageImage | Ranking):
        return obj.page.participant.study
    return None


class StudyMembershipBackend(BaseBackend):
    """Object permissions on a study and its rows, from the user's StudyMembership."""

    def has_perm(self, user_obj, perm, obj=None):
        if obj is None or not user_obj.is_active or user_obj.is_anonymous:
            return False
        if perm not in MEMBER_VIEW | MEMBER_CHANGE:
            return False
        study = study_of(obj)
        if study is None or study.pk is None:
            return False
        memberships = StudyMembership.objects.filter(user=user_obj, study=study)
        if perm in MEMBER_CHANGE:
            memberships = memberships.filter(can_change_participants=True)
        return memberships.exists()


def is_member_anywhere(user) -> bool:
    """True when the user is a member of at least one study."""
    return (
        user.is_active
        and user.is_authenticated
        and StudyMembership.objects.filter(user=user).exists()
    )


def may_view_study(user, study: Study) -> bool:
    """The user may see this study (globally or as a member)."""
    return user.has_perm(VIEW_STUDY) or user.has_perm(VIEW_STUDY, study)


def visible(queryset: QuerySet, user) -> QuerySet:
    """`queryset` limited to the rows of studies the user may see."""
    if user.has_perm(VIEW_STUDY):
        return queryset
    path = STUDY_PATHS[queryset.model]
    member = Q(**{f"{path}__memberships__user" if path else "memberships__user": user})
    return queryset.filter(member).distinct()
