from django.apps import AppConfig


class SurveyConfig(AppConfig):
    """Studies, participants, ranking pages, the researcher API, admin and exports."""

    name = "survey"
    default_auto_field = "django.db.models.BigAutoField"
