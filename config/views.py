"""Views of the project itself, outside any app."""

from django.http import HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.http import require_GET


@require_GET
def health(request):
    """Liveness for load balancers and the load benchmark's ceiling: no database, no
    template, no session."""
    return HttpResponse("ok\n", content_type="text/plain")


@require_GET
def favicon(request):
    """Browsers ask every site for /favicon.ico; answer with the project's icon."""
    return redirect(static("survey/favicon.svg"), permanent=True)
