"""The curtailment page's plan form: site, target, strategy, when it starts and when the miners come back.

It checks the shape of what was typed; the plan service checks the values (a target the fleet can take,
a recovery after the start, no start in the past) and its messages land on the fields they name.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django import forms

from mining_platform.core.errors import InvalidInputError

from .choices import CurtailmentSource, CurtailmentStrategy, CurtailmentTargetKind
from .models import Site
from .selectors import site_list
from .services.curtailment_plans import CurtailmentRequest

DATETIME_INPUT = "%Y-%m-%dT%H:%M"
MAX_DURATION_MINUTES = 7 * 24 * 60
DEFAULT_DURATION_MINUTES = 60


class _LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format=DATETIME_INPUT, attrs={"class": "form-control form-control-sm"})


class CurtailmentPlanForm(forms.Form):
    """What a plan asks for; times are UTC, as every time on the platform's pages."""

    site = forms.ModelChoiceField(queryset=Site.objects.none(), empty_label=None)
    target_kind = forms.ChoiceField(choices=CurtailmentTargetKind.choices, initial=CurtailmentTargetKind.SHED_KW)
    target_value = forms.DecimalField(max_digits=12, decimal_places=3, label="Target")
    strategy = forms.ChoiceField(choices=CurtailmentStrategy.choices, initial=CurtailmentStrategy.OPTIMAL)
    start = forms.ChoiceField(choices=[("now", "Now"), ("later", "Later")], initial="now", widget=forms.RadioSelect)
    starts_at = forms.DateTimeField(required=False, input_formats=[DATETIME_INPUT], widget=_LocalDateTimeInput())
    end = forms.ChoiceField(
        choices=[("duration", "For"), ("until", "Until")], initial="duration", widget=forms.RadioSelect
    )
    duration_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_DURATION_MINUTES, initial=DEFAULT_DURATION_MINUTES
    )
    recover_at = forms.DateTimeField(required=False, input_formats=[DATETIME_INPUT], widget=_LocalDateTimeInput())

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # forms.Form's own signature
        self.fields["site"].queryset = site_list()  # type: ignore[attr-defined]  # a ModelChoiceField
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.RadioSelect):
                field.widget.attrs["class"] = "form-check-input"
                continue
            if name in ("starts_at", "recover_at"):
                continue
            css = (
                "form-select form-select-sm" if isinstance(field, forms.ChoiceField) else "form-control form-control-sm"
            )
            field.widget.attrs["class"] = css
        self.fields["target_value"].widget.attrs.update({"step": "any", "min": "0"})

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("start") == "later" and data.get("starts_at") is None:
            self.add_error("starts_at", "Give the start time (UTC), or start now.")
        if data.get("end") == "until" and data.get("recover_at") is None:
            self.add_error("recover_at", "Give the recovery time (UTC), or a duration.")
        if data.get("end") == "duration" and data.get("duration_minutes") is None:
            self.add_error("duration_minutes", "Give how many minutes the miners stay curtailed.")
        return data

    @property
    def starts_now(self) -> bool:
        return self.cleaned_data.get("start") != "later"

    def curtailment_request(self, *, now: datetime, source: str = CurtailmentSource.PAGE) -> CurtailmentRequest:
        """The request the valid form describes, starting at `now` unless a later start was given."""
        data = self.cleaned_data
        starts_at: datetime = now if self.starts_now else data["starts_at"]
        if data["end"] == "until":
            recover_at: datetime = data["recover_at"]
        else:
            recover_at = starts_at + timedelta(minutes=int(data["duration_minutes"]))
        target_value: Decimal = data["target_value"]
        return CurtailmentRequest(
            site=data["site"],
            target_kind=data["target_kind"],
            target_value=target_value,
            strategy=data["strategy"],
            starts_at=starts_at,
            recover_at=recover_at,
            source=source,
        )

    def add_service_errors(self, error: InvalidInputError) -> None:
        """Put the service's messages on the fields they name (the rest above the form)."""
        for name, messages in error.fields.items():
            field = name
            if name == "recover_at" and self.cleaned_data.get("end") != "until":
                field = "duration_minutes"
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        if not error.fields:
            self.add_error(None, error.message)
