"""The calculator's HTML forms: they carry the typed text to the services, which check every value.

Fields are text on purpose: the engine's checks name the field and say what is wrong ("must be 0 or
more", "is too large"), the same messages the API gives, so the page and the API never disagree.
"""

from collections.abc import Mapping

from django import forms

from mining_platform.core.errors import InvalidInputError

from .models import MinerModel
from .selectors import miner_model_list
from .services.scenarios import (
    DEFAULT_HORIZON_DAYS,
    DEFAULT_TREND_MONTHS,
    TREND_MONTH_CHOICES,
    DifficultyScenario,
    PriceScenario,
)

COMPARE_SLOTS = 6


def _text(label: str, *, required: bool = False, initial: str = "", help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        initial=initial,
        help_text=help_text,
        max_length=60,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def _model_choices() -> list[tuple[str, list[tuple[str, str]]] | tuple[str, str]]:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for model in miner_model_list():
        label = (
            f"{model.model} · {model.hashrate_ths:g} TH/s · {model.power_w:,} W · {model.efficiency_j_per_th:g} J/TH"
        )
        grouped.setdefault(model.make, []).append((str(model.pk), label))
    return [("", "Custom specs"), *grouped.items()]


class StyledForm(forms.Form):
    """Bootstrap classes on every widget (select boxes look different from text inputs)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # forms.Form's own signature
        self.style_fields()

    def style_fields(self) -> None:
        for field in self.fields.values():
            css = (
                "form-select form-select-sm" if isinstance(field, forms.ChoiceField) else "form-control form-control-sm"
            )
            field.widget.attrs["class"] = css


class ScenarioFields(StyledForm):
    """The projection's horizon and scenario: shared by the single, what-if and batch forms."""

    horizon_days = _text("Horizon (days)", initial=str(DEFAULT_HORIZON_DAYS))
    difficulty_scenario = forms.ChoiceField(
        label="Difficulty",
        choices=[(DifficultyScenario.VALUE, "Grows by my value"), (DifficultyScenario.TREND, "Follows the trend")],
        initial=DifficultyScenario.VALUE,
        required=False,
    )
    difficulty_growth_pct_per_month = _text("Difficulty growth (% a month)", initial="0")
    difficulty_trend_months = forms.TypedChoiceField(
        label="Trend over",
        choices=[(months, f"last {months} months") for months in TREND_MONTH_CHOICES],
        coerce=int,
        initial=DEFAULT_TREND_MONTHS,
        required=False,
    )
    price_scenario = forms.ChoiceField(
        label="BTC price",
        choices=[
            (PriceScenario.FLAT, "Stays flat"),
            (PriceScenario.GROWTH, "Grows by my value"),
            (PriceScenario.FORECAST, "Follows the ARIMA forecast"),
        ],
        initial=PriceScenario.FLAT,
        required=False,
    )
    price_growth_pct_per_month = _text("Price growth (% a month)", initial="0")


class TariffFields(ScenarioFields):
    """What the user pays and how the miners run: shared by the single and the what-if forms."""

    electricity_usd_per_kwh = _text("Electricity (USD/kWh)", required=True, initial="0.06")
    pool_fee_pct = _text("Pool fee (%)", initial="2")
    uptime_pct = _text("Uptime (%)", initial="98")
    hosting_fee_usd_per_month = _text("Hosting fee (USD per unit a month)", initial="0")
    hosting_fee_usd_per_kwh = _text("Hosting fee (USD/kWh on top)", initial="0")
    curtailment_hours_per_month = _text("Curtailment (hours off a month)", initial="0")

    def add_service_errors(self, error: InvalidInputError) -> None:
        """Show the service's messages under the fields they name (the rest above the form)."""
        for name, messages in error.fields.items():
            for message in messages:
                if name in self.fields:
                    self.add_error(name, f"{self.fields[name].label} {message}.")
                else:
                    self.add_error(None, f"{name} {message}.")
        if not error.fields:
            self.add_error(None, error.message)

    def service_data(self) -> dict[str, object]:
        """The cleaned values as the services take them: blank means "not given"."""
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None)}


class CalculationForm(TariffFields):
    """One setup: a catalogue model or custom specs, the quantity and the hardware cost."""

    miner_model_id = forms.TypedChoiceField(label="Miner model", coerce=int, required=False, empty_value=None)
    hashrate_ths = _text("Hashrate (TH/s per unit)", help_text="Leave blank to use the model's.")
    power_w = _text("Power (W per unit)", help_text="Leave blank to use the model's.")
    quantity = _text("Units", initial="1")
    hardware_cost_usd = _text("Hardware cost (USD per unit)", initial="0")

    field_order = ["miner_model_id", "hashrate_ths", "power_w", "quantity", "hardware_cost_usd"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["miner_model_id"].choices = _model_choices()  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["miner_model_id"].widget.attrs["data-model-select"] = ""


class CompareForm(TariffFields):
    """Several models side by side, each with its own hardware cost, at the same prices and scenario."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        choices = _model_choices()
        choices[0] = ("", "—")
        for slot in range(COMPARE_SLOTS):
            self.fields[f"model_{slot}"] = forms.TypedChoiceField(
                label=f"Model {slot + 1}", choices=choices, coerce=int, required=False, empty_value=None
            )
            self.fields[f"hardware_cost_usd_{slot}"] = _text(f"Hardware cost of model {slot + 1} (USD)")
        self.style_fields()

    def slots(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"model_{slot}"], self[f"hardware_cost_usd_{slot}"]) for slot in range(COMPARE_SLOTS)]

    def chosen(self) -> list[tuple[int, str, MinerModel | None]]:
        """(slot, hardware cost text, model) of every slot with a model, in slot order."""
        models = {model.pk: model for model in miner_model_list()}
        picked = []
        for slot in range(COMPARE_SLOTS):
            model_id = self.cleaned_data.get(f"model_{slot}")
            if model_id is not None:
                picked.append((slot, self.cleaned_data.get(f"hardware_cost_usd_{slot}") or "0", models.get(model_id)))
        return picked


def initial_from_inputs(inputs: Mapping[str, object]) -> dict[str, object]:
    """A saved calculation's inputs as form values, to reopen it."""
    return {name: value for name, value in inputs.items() if value is not None}
