# Participant links name a study by an opaque id instead of its slug.

import survey.models
from django.db import migrations, models


def give_each_study_an_id(apps, schema_editor):
    Study = apps.get_model("survey", "Study")
    for study in Study.objects.filter(public_id__isnull=True):
        study.public_id = survey.models.new_public_id()
        study.save(update_fields=["public_id"])


class Migration(migrations.Migration):

    dependencies = [
        ("survey", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="public_id",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(give_each_study_an_id, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="study",
            name="public_id",
            field=models.CharField(
                default=survey.models.new_public_id, editable=False, max_length=32, unique=True
            ),
        ),
    ]
