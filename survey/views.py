"""The participant's pages: landing, consent, about you, practice, ranking, completion.

Views parse the request, call one service and render. The participant is found through
the session only (their token never appears in a URL, so it cannot leak through the
Referer header or access logs); every visit goes to the step they have to do next, so
a refresh or a return through the same link resumes where they stopped.
"""

import hashlib
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import image_links, selectors, services, texts
from .blinding import PRACTICE_SHADES, participant_copy_response, practice_png
from .forms import (
    FormValueError,
    attention_from_post,
    page_ms_from_post,
    rank_field_name,
    ranks_from_post,
)
from .models import Participant, Study
from .questions import ATTENTION_BY_KEY, DEFAULT_CONSENT_TEXT, DEMOGRAPHIC_QUESTIONS
from .recruitment import (
    PLATFORMS_BY_KEY,
    RecruitmentError,
    completion_return_url,
    recruitment_fields,
    recruitment_from_fields,
)
from .selectors import Step

ERROR_RECRUIT_LINK = gettext_lazy(
    "The link you followed is damaged. Please open the study again from the site that sent you."
)
ERROR_SESSION_LOST = gettext_lazy(
    "Your answers could not be saved because your session has ended. Please open the "
    "study again from the link you were given; you will continue where you stopped."
)
ERROR_FORM_DAMAGED = gettext_lazy(
    "Part of the page's answer was damaged on its way. Please check your ranking and "
    "send it again."
)
STEP_URLS = {
    Step.CONSENT: "survey:consent",
    Step.PROFILE: "survey:profile",
    Step.PRACTICE: "survey:practice",
    Step.PAGE: "survey:rank",
    Step.DONE: "survey:done",
}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def session_key(study: Study) -> str:
    return f"survey:{study.slug}"


def participant_view(step: Step | None):
    """Load the study and the session's participant; send them to their current step.

    Pages are never cached.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request, study_id, *args, **kwargs):
            study = get_object_or_404(Study, public_id=study_id)
            token = request.session.get(session_key(study), "")
            participant = selectors.participant_by_token(study=study, token=token)
            if participant is None:
                if request.method == "POST":
                    # An answer without a valid session (expired, or a forged cookie) is
                    # refused with a reason instead of silently dropped by a redirect.
                    context = {"study": study, "errors": [ERROR_SESSION_LOST]}
                    return render(request, "survey/error.html", context, status=403)
                return redirect("survey:study", study_id=study.public_id)
            current = selectors.participant_step(participant=participant)
            if step is not None and current != step:
                return redirect(STEP_URLS[current], study_id=study.public_id)
            if participant.language:
                translation.activate(participant.language)
                request.LANGUAGE_CODE = participant.language
            return view(request, study, participant, *args, **kwargs)

        return never_cache(wrapper)

    return decorate


@require_GET
def landing(request):
    """The site's front page: the open study, or a list when there are several."""
    studies = list(Study.objects.filter(is_open=True))
    if len(studies) == 1:
        return redirect("survey:study", study_id=studies[0].public_id)
    return render(request, "survey/landing.html", {"studies": studies})


@never_cache
@require_http_methods(["GET", "POST"])
def study_landing(request, study_id):
    """A study's first page; arrivals from a recruitment platform bring their ids here.

    A recruit id alone never opens an existing participation: only the browser that
    enrolled it (its session) resumes; another browser gets a page saying the study is
    open elsewhere, until a researcher releases it in the admin. A GET never changes
    whom the browser's session belongs to.
    """
    study = get_object_or_404(Study, public_id=study_id)
    source = request.POST if request.method == "POST" else request.GET
    fields = recruitment_fields(source)
    try:
        recruitment = recruitment_from_fields(fields)
    except RecruitmentError:
        context = {"study": study, "errors": [ERROR_RECRUIT_LINK]}
        return render(request, "survey/study_landing.html", context, status=400)
    token = request.session.get(session_key(study), "")
    current = selectors.participant_by_token(study=study, token=token)
    context = {"study": study, "recruitment": fields, "preview": recruitment.preview}
    if recruitment.preview:
        return render(request, "survey/study_landing.html", {**context, "errors": []})
    if recruitment.recruit_id:
        existing = selectors.participant_by_recruit_id(study=study, recruitment=recruitment)
        if existing is not None:
            if current is not None and current.pk == existing.pk:
                return _enter(request, current)  # the same browser, back again
            if existing.released_at is None:
                return _open_elsewhere(request, study)
            if request.method == "POST":
                try:
                    claimed = services.participant_claim(participant=existing)
                except services.OpenElsewhere:
                    return _open_elsewhere(request, study)
                return _enter(request, claimed)
            # Released: a button (POST, CSRF-protected) takes it over.
            return render(request, "survey/study_landing.html", {**context, "errors": []})
    elif current is not None:
        # Same browser, no recruit id: back to their own participation (a second
        # click on Start, or the back button, must not enrol them twice).
        return _enter(request, current)
    if request.method == "POST":
        try:
            participant = services.participant_start(study=study, recruitment=recruitment)
        except services.OpenElsewhere:
            return _open_elsewhere(request, study)
        except services.SurveyError as error:
            context["errors"] = error.messages
            return render(request, "survey/study_landing.html", context, status=409)
        return _enter(request, participant)
    errors = [] if study.is_open else [services.ERROR_STUDY_CLOSED]
    return render(request, "survey/study_landing.html", {**context, "errors": errors})


def _open_elsewhere(request, study: Study):
    # No link back to the study: it would only offer to start a new participation.
    context = {"study": study, "message": services.ERROR_OPEN_ELSEWHERE}
    return render(request, "survey/open_elsewhere.html", context, status=409)


def _enter(request, participant: Participant):
    # A new session id on entry, so a session id seen before cannot be reused to
    # impersonate the participant.
    request.session.cycle_key()
    request.session[session_key(participant.study)] = participant.token
    step = selectors.participant_step(participant=participant)
    return redirect(STEP_URLS[step], study_id=participant.study.public_id)


@participant_view(Step.CONSENT)
@require_http_methods(["GET", "POST"])
def consent(request, study, participant):
    """The consent text; agreeing moves on, declining stores nothing."""
    errors = []
    if request.method == "POST":
        try:
            services.participant_consent(
                participant=participant, agreed=request.POST.get("agree") == "yes"
            )
        except services.SurveyError as error:
            errors = error.messages
        else:
            return redirect("survey:profile", study_id=study.public_id)
    consent_text = texts.study_text(study, "consent_text") or _(DEFAULT_CONSENT_TEXT)
    context = {
        "study": study,
        "consent_text": consent_text.replace("{minutes}", str(texts.consent_minutes(study))),
        "errors": errors,
    }
    return render(request, "survey/consent.html", context, status=400 if errors else 200)


@participant_view(Step.PROFILE)
@require_http_methods(["GET", "POST"])
def profile(request, study, participant):
    """Choose a country (cultural affiliation) and answer a few questions about yourself."""
    errors = []
    chosen = {"country": "", **{q.key: "" for q in DEMOGRAPHIC_QUESTIONS}}
    if request.method == "POST":
        chosen = {name: request.POST.get(name, "") for name in chosen}
        try:
            participant = services.participant_profile_set(
                participant=participant,
                country_code=chosen["country"],
                demographics={q.key: chosen[q.key] for q in DEMOGRAPHIC_QUESTIONS},
            )
        except services.SurveyError as error:
            errors = error.messages
        else:
            response = redirect("survey:practice", study_id=study.public_id)
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, participant.language, samesite="Lax")
            return response
    context = {
        "study": study,
        "countries": [
            {"code": c.code, "name": texts.country_text(c, "name")}
            for c in selectors.countries_for_study(study=study)
        ],
        "questions": [
            {
                "key": q.key,
                "question": _(q.question),
                "options": [(value, _(label)) for value, label in q.options],
                "chosen": chosen[q.key],
            }
            for q in DEMOGRAPHIC_QUESTIONS
        ],
        "chosen": chosen,
        "errors": errors,
    }
    return render(request, "survey/profile.html", context, status=400 if errors else 200)


@participant_view(Step.PRACTICE)
@require_http_methods(["GET", "POST"])
def practice(request, study, participant):
    """Instructions and one practice ranking with plain coloured squares."""
    errors, ranks = [], {}
    if request.method == "POST":
        ranks = ranks_from_post(request.POST)
        try:
            services.practice_submit(participant=participant, ranks=ranks)
        except services.SurveyError as error:
            errors = error.messages
        else:
            return redirect("survey:rank", study_id=study.public_id)
    images = [
        {
            "position": number,
            "letter": LETTERS[number - 1],
            "url": reverse(
                "survey:practice_image", kwargs={"study_id": study.public_id, "number": number}
            ),
        }
        for number in range(1, len(PRACTICE_SHADES) + 1)
    ]
    item = {
        "key": "practice",
        "number": 1,
        "question": _("Practice: rank the squares from the most blue to the least blue."),
        "best_end": _("most blue"),
        "worst_end": _("least blue"),
        "note": "",
        "prompt": "",
    }
    context = {
        "study": study,
        "instructions": texts.study_text(study, "instructions"),
        "items": [_item_rows(item, images, ranks)],
        "errors": errors,
        "action": request.path,
        **_ranking_context(images),
    }
    return render(request, "survey/practice.html", context, status=400 if errors else 200)


@participant_view(Step.PAGE)
@require_GET
def rank(request, study, participant):
    """The next ranking page (assigned here when none is open)."""
    shown = services.page_next_shown(participant=participant)
    if shown is None:
        return redirect("survey:done", study_id=study.public_id)
    return _render_page(request, study, participant, shown)


@participant_view(None)
@require_POST
def rank_submit(request, study, participant, page_id):
    """Store a page's rankings; a repeated submission is accepted and stores nothing."""
    ranks = ranks_from_post(request.POST)
    try:
        try:
            page_ms = page_ms_from_post(request.POST)
        except FormValueError:
            raise services.SurveyError(ERROR_FORM_DAMAGED) from None
        result = services.ranking_submit(
            participant=participant,
            page_public_id=page_id,
            ranks=ranks,
            attention=attention_from_post(request.POST),
            page_ms=page_ms,
        )
    except services.SurveyError as error:
        page = participant.pages.filter(public_id=page_id).first()
        if page is None:
            context = {"study": study, "errors": error.messages}
            return render(request, "survey/error.html", context, status=404)
        shown = selectors.page_shown(participant=participant, page=page)
        return _render_page(
            request, study, participant, shown, ranks=ranks, errors=error.messages, status=400
        )
    if result.completed:
        participant.refresh_from_db()
        return redirect(
            _completion_url(study, participant)
            or reverse("survey:done", kwargs={"study_id": study.public_id})
        )
    return redirect("survey:rank", study_id=study.public_id)


def _render_page(request, study, participant, shown, *, ranks=None, errors=(), status=200):
    page = shown.page
    adjective = texts.country_text(participant.country, "adjective")
    viewer = image_links.viewer_key(participant.token)
    expires = image_links.link_expiry()
    image_prefix = reverse("survey:image", kwargs={"study_id": study.public_id, "image_id": "-"})
    image_prefix = image_prefix[:-1]
    images = [
        {
            "position": page_image.position,
            "letter": LETTERS[page_image.position - 1],
            "url": image_prefix + _image_link(study, viewer, page_image, expires),
        }
        for page_image in shown.images
    ]
    items = []
    description = texts.prompt_description(
        study, page.image_set.prompt_id, page.image_set.prompt
    )
    for number, item in enumerate(study.items.all(), start=1):
        wording = {
            "key": item.key,
            "number": number,
            **texts.item_wording(item, adjective),
            "prompt": description if item.shows_prompt else "",
        }
        items.append(_item_rows(wording, images, ranks or {}))
    checks = [
        {
            "key": check.key,
            "name": f"attention-{check.key}",
            "question": _(ATTENTION_BY_KEY[check.key].question),
            "options": [(v, _(label)) for v, label in ATTENTION_BY_KEY[check.key].options],
            "chosen": request.POST.get(f"attention-{check.key}", "") if errors else "",
        }
        for check in shown.checks
    ]
    context = {
        "study": study,
        "page_number": page.index + 1,
        "pages_due": shown.due,
        "answered": shown.answered,
        "items": items,
        "checks": checks,
        "errors": errors,
        **_ranking_context(images),
        "action": reverse(
            "survey:rank_submit", kwargs={"study_id": study.public_id, "page_id": page.public_id}
        ),
    }
    response = render(request, "survey/rank.html", context, status=status)
    response.set_cookie(
        image_links.VIEWER_COOKIE,
        viewer,
        max_age=settings.SESSION_COOKIE_AGE,
        path=image_prefix,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def _image_link(study, viewer: str, page_image, expires: int) -> str:
    image = page_image.image
    copy = image_links.LinkedCopy(image.copy_file, image.copy_format, image.copy_bytes, expires)
    return image_links.link_make(study_public_id=study.public_id, viewer=viewer, copy=copy)


def _ranking_context(images: list[dict]) -> dict:
    """What the ranking widget needs: images, the ranks offered, the script's words."""
    return {
        "images": images,
        "ranks_count": len(images),
        "ranks_range": range(1, len(images) + 1),
        "ranking_text": {
            "image": _("Image %(letter)s"),
            "up": _("Move image %(letter)s up"),
            "down": _("Move image %(letter)s down"),
            "list": _("Order of the images for question %(number)s, best first"),
            "moved": _("Image %(letter)s is now rank %(rank)s of %(count)s."),
            "handle": _("Drag to reorder, or use the arrow keys"),
            "rank": _("Rank %(rank)s"),
            "keep": _("Keep this order"),
            "keepFor": _("Keep this order for question %(number)s"),
            "kept": _("Order kept for question %(number)s."),
            "unanswered": _(
                "Question %(number)s: put the images in order, or press “Keep this order”."
            ),
        },
    }


def _item_rows(item: dict, images: list[dict], ranks) -> dict:
    given = ranks.get(item["key"], {})
    item["rows"] = [
        {
            "field": rank_field_name(item["key"], image["position"]),
            "letter": image["letter"],
            "url": image["url"],
            "value": given.get(image["position"]),
        }
        for image in images
    ]
    return item


@participant_view(Step.DONE)
@require_GET
def done(request, study, participant):
    """The completion code (and, for platforms that take people back by a link, the way
    back)."""
    return_url = _completion_url(study, participant)
    platform = PLATFORMS_BY_KEY.get(participant.recruit_source)
    context = {
        "study": study,
        "code": participant.completion_code,
        "return_url": return_url,
        "platform_name": platform.name if platform else "",
    }
    return render(request, "survey/done.html", context)


def _completion_url(study: Study, participant: Participant) -> str:
    """Where the participant's platform takes them back (survey/recruitment.py), or ""."""
    return completion_return_url(
        source=participant.recruit_source,
        study_platform=study.recruitment_platform,
        study_url=study.completion_url,
        code=participant.completion_code,
    )


@require_GET
def image(request, study_id, image_id):
    """The participant copy of one image of a ranking page, by its image link.

    The link (survey.image_links) names the copy sealed, for this study and this
    browser's viewer cookie only: no session, no query. A link of another participant,
    another study, a changed one or an expired one is not found.
    """
    viewer = request.COOKIES.get(image_links.VIEWER_COOKIE, "")
    copy = image_links.link_open(image_id, study_public_id=study_id, viewer=viewer)
    if copy is None or not copy.name:
        raise Http404("No such image.")
    etag = f'"{hashlib.blake2b(image_id.encode(), digest_size=12).hexdigest()}"'
    return participant_copy_response(request, copy, etag)


@require_GET
def practice_image(request, study_id, number):
    """One of the practice page's squares."""
    if not 1 <= number <= len(PRACTICE_SHADES):
        raise Http404("No such image.")
    response = HttpResponse(practice_png(number), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_POST
def language_switch(request):
    """Switch the language of the participant pages (and remember it)."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = redirect(next_url)
    if language not in dict(settings.LANGUAGES):
        return response
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
    for key, token in request.session.items():
        if key.startswith("survey:"):
            participant = Participant.objects.filter(token=token).first()
            if participant is not None:
                services.participant_language_set(participant=participant, language=language)
    return response
