"""Analytics pages: market overview, forecasts, network. Each view reads one page dataset and renders it.

Policy of every page here: any signed-in user, whatever the role. The figures are market and network
data (BTC price, indicators, difficulty), the same for everyone and nothing tied to one client; hosting
clients need them as much as operators to read their payouts and profitability. Signing in is still
required because the market status panel shows the platform's own collector health and latencies,
which is operational detail not meant for anonymous visitors.
"""

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from mining_platform.core.rbac import ANY_ROLE, access

from .models import Interval
from .page_selectors import (
    NETWORK_DEFAULT_DAYS,
    NETWORK_RANGES,
    PRICE_DEFAULT_DAYS,
    PRICE_RANGES,
    forecast_panels,
    market_overview_get,
    network_page_get,
)


class PriceRangeForm(forms.Form):
    interval = forms.ChoiceField(choices=Interval.choices, required=False)
    days = forms.TypedChoiceField(
        choices=[(d, d) for d in sorted({d for ranges in PRICE_RANGES.values() for d in ranges})],
        coerce=int,
        required=False,
    )

    def chosen(self) -> tuple[str, int]:
        """(interval, days) asked for; the defaults for anything missing, invalid or not offered at that interval."""
        data = self.cleaned_data if self.is_valid() else {}
        interval = data.get("interval") or Interval.DAY
        days = data.get("days")
        if days not in PRICE_RANGES[interval]:
            days = PRICE_DEFAULT_DAYS[interval]
        return interval, days


class NetworkRangeForm(forms.Form):
    days = forms.TypedChoiceField(choices=[(d, d) for d in NETWORK_RANGES], coerce=int, required=False)

    def chosen(self) -> int:
        days = self.cleaned_data.get("days") if self.is_valid() else None
        return NETWORK_DEFAULT_DAYS if days is None or days == "" else int(days)


@access(ANY_ROLE)
def market_overview(request: HttpRequest) -> HttpResponse:
    interval, days = PriceRangeForm(request.GET).chosen()
    return render(request, "analytics/market.html", {"overview": market_overview_get(interval=interval, days=days)})


@access(ANY_ROLE)
def forecasts(request: HttpRequest) -> HttpResponse:
    return render(
        request, "analytics/forecasts.html", {"panels": forecast_panels(), "mode": settings.MARKET_DATA_SOURCE}
    )


@access(ANY_ROLE)
def network(request: HttpRequest) -> HttpResponse:
    days = NetworkRangeForm(request.GET).chosen()
    return render(request, "analytics/network.html", {"network": network_page_get(days=days, now=timezone.now())})
