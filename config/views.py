"""Views of the project itself, outside any app."""

from django.http import HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request):
    """Liveness for load balancers and the load benchmark's ceiling: no database, no
    template, no session."""
    return HttpResponse("ok\n", content_type="text/plain")
