"""The participant's pages. Nothing here carries the participant's token."""

from django.urls import path

from . import views

app_name = "survey"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("language/", views.language_switch, name="language"),
    path("s/<slug:slug>/", views.study_landing, name="study"),
    path("s/<slug:slug>/consent/", views.consent, name="consent"),
    path("s/<slug:slug>/about-you/", views.profile, name="profile"),
    path("s/<slug:slug>/practice/", views.practice, name="practice"),
    path("s/<slug:slug>/practice/<int:number>.png", views.practice_image, name="practice_image"),
    path("s/<slug:slug>/rank/", views.rank, name="rank"),
    path("s/<slug:slug>/rank/<str:page_id>/", views.rank_submit, name="rank_submit"),
    path("s/<slug:slug>/image/<str:image_id>.png", views.image, name="image"),
    path("s/<slug:slug>/done/", views.done, name="done"),
]
