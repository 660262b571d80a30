"""The participant's pages. Nothing here carries the participant's token."""

from django.urls import path

from . import views

app_name = "survey"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("language/", views.language_switch, name="language"),
    path("s/<str:study_id>/", views.study_landing, name="study"),
    path("s/<str:study_id>/consent/", views.consent, name="consent"),
    path("s/<str:study_id>/about-you/", views.profile, name="profile"),
    path("s/<str:study_id>/practice/", views.practice, name="practice"),
    path("s/<str:study_id>/practice/<int:number>.png", views.practice_image, name="practice_image"),
    path("s/<str:study_id>/rank/", views.rank, name="rank"),
    path("s/<str:study_id>/rank/<str:page_id>/", views.rank_submit, name="rank_submit"),
    path("s/<str:study_id>/image/<str:image_id>", views.image, name="image"),
    path("s/<str:study_id>/done/", views.done, name="done"),
]
