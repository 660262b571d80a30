from django.shortcuts import render


def landing(request):
    """The participant's first page."""
    return render(request, "survey/landing.html")
