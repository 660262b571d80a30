"""What the researcher API sends and accepts. Serializers shape data; services decide."""

from django.urls import reverse
from rest_framework import serializers

from .models import Country, Participant, Study, SurveyItem

REASON_MAX_LENGTH = 2000


class CountrySerializer(serializers.ModelSerializer):
    class Meta:
        model = Country
        fields = ("code", "name", "adjective", "language")


class SurveyItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = SurveyItem
        fields = ("key", "question", "best_end", "worst_end", "shows_prompt")


class StudySerializer(serializers.ModelSerializer):
    """A study as researchers see it, with its countries and items."""

    countries = CountrySerializer(many=True, read_only=True)
    items = SurveyItemSerializer(many=True, read_only=True)
    participant_url = serializers.SerializerMethodField(
        help_text="The page to send participants to (add Prolific's or MTurk's ids)."
    )

    class Meta:
        model = Study
        fields = (
            "slug",
            "title",
            "is_open",
            "pages_per_participant",
            "answers_per_image_set",
            "completion_code",
            "created_at",
            "participant_url",
            "countries",
            "items",
        )

    def get_participant_url(self, study) -> str:
        return reverse("survey:study", kwargs={"study_id": study.public_id})


class CountryProgressSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Empty for participants who chose no country yet.")
    name = serializers.CharField()
    started = serializers.IntegerField()
    completed = serializers.IntegerField()
    excluded = serializers.IntegerField()
    attention_failed = serializers.IntegerField()
    pages_answered = serializers.IntegerField()
    median_page_ms = serializers.IntegerField(allow_null=True)


class ImageSetProgressSerializer(serializers.Serializer):
    public_id = serializers.CharField()
    country = serializers.CharField()
    prompt_id = serializers.CharField()
    seed = serializers.IntegerField()
    answers = serializers.IntegerField(help_text="Answers that count toward the target.")
    all_answers = serializers.IntegerField(help_text="Every answered page.")
    target = serializers.IntegerField()
    reached = serializers.BooleanField()


class StudyProgressSerializer(serializers.Serializer):
    """Participants per country and answers per image set: those counted toward the
    targets under the study's quota rule, and all."""

    study = serializers.CharField(source="study.slug")
    started = serializers.IntegerField()
    completed = serializers.IntegerField()
    attention_failed = serializers.IntegerField()
    answers = serializers.IntegerField()
    all_answers = serializers.IntegerField()
    answers_wanted = serializers.IntegerField()
    image_sets_reached = serializers.IntegerField()
    balance = serializers.IntegerField(
        allow_null=True, help_text="Most minus fewest answers over the image sets."
    )
    median_page_ms = serializers.IntegerField(allow_null=True)
    countries = CountryProgressSerializer(many=True)
    image_sets = ImageSetProgressSerializer(many=True)


class ParticipantSerializer(serializers.ModelSerializer):
    """A participant's pseudonymous record; never their token or recruitment ids."""

    participant = serializers.CharField(source="public_id")
    country = serializers.SlugRelatedField(slug_field="code", read_only=True)
    pages_answered = serializers.IntegerField(read_only=True)

    class Meta:
        model = Participant
        fields = (
            "participant",
            "country",
            "recruit_source",
            "created_at",
            "completed_at",
            "pages_answered",
            "attention_ok",
            "excluded",
            "exclusion_reason",
        )


class ExclusionSerializer(serializers.Serializer):
    """Why a participant is excluded; stored with them and written to every export row."""

    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, trim_whitespace=True)
