from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Image records and the commands that fill them (generate_batch, import_batch).

    Nothing imported at start-up pulls in torch: the ML stack is loaded only inside the
    commands' service functions.
    """

    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"
