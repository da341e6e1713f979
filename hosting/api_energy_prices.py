"""The API that posts a site's hourly energy prices (the feed the price rule reads)."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.choices import OPERATOR_ROLES, ApiScope
from mining_platform.core.errors import NotFoundError
from mining_platform.core.rbac import roles

from .models import Site
from .serializers import ApiErrorSerializer
from .services.energy_prices import MAX_ROWS, EnergyPricesStored, energy_prices_post


class EnergyPriceItemSerializer(serializers.Serializer[object]):
    """One hour's price, as posted (the schema of an item of `prices`)."""

    starts_at = serializers.DateTimeField(
        help_text="Start of the hour, ISO 8601. Without a UTC offset it is read in the site's time zone."
    )
    price_usd_per_mwh = serializers.DecimalField(
        max_digits=10, decimal_places=3, help_text="USD per MWh; may be negative."
    )


# Items are checked by the service (hosting/services/energy_prices.py), which names a bad one as
# prices[<index>].<field> just as an upload names rows[<row>].<column>; the schema still shows their shape.
@extend_schema_field(EnergyPriceItemSerializer(many=True))
class _PriceItemsField(serializers.ListField):
    pass


class EnergyPricesPostInputSerializer(serializers.Serializer[object]):
    prices = _PriceItemsField(child=serializers.DictField(), allow_empty=False, max_length=MAX_ROWS)


class EnergyPricesStoredSerializer(serializers.Serializer[EnergyPricesStored]):
    received = serializers.IntegerField(help_text="Hours in the request.")
    created = serializers.IntegerField(help_text="Hours that had no price before.")
    updated = serializers.IntegerField(help_text="Hours whose price changed.")
    unchanged = serializers.IntegerField(help_text="Hours sent again with the price already stored.")
    first_starts_at = serializers.DateTimeField(allow_null=True)
    last_starts_at = serializers.DateTimeField(allow_null=True)


class SiteEnergyPricesPostApi(APIView):
    """Store a site's hourly energy prices: all of them, or none when any is bad."""

    access_policy = roles(*OPERATOR_ROLES, scopes=[ApiScope.CURTAILMENT_REQUEST])

    @extend_schema(
        summary="Post a site's hourly energy prices",
        description="Each item is one hour of the site's price feed. Every item is checked first: one bad item "
        "refuses the request (400, code invalid_input, with each problem named prices[<index>].<field>) and "
        "nothing is stored. An hour already stored takes the new price; sending the same prices again "
        "changes nothing. The site's energy price rule reads these hours. Operators, or API keys holding "
        "curtailment:request.",
        request=EnergyPricesPostInputSerializer,
        responses={
            200: EnergyPricesStoredSerializer,
            400: OpenApiResponse(ApiErrorSerializer, description="A bad item (code invalid_input); nothing stored."),
            403: OpenApiResponse(
                ApiErrorSerializer, description="Not an operator, or an API key without curtailment:request."
            ),
            404: OpenApiResponse(ApiErrorSerializer, description="No such site."),
        },
        examples=[
            OpenApiExample(
                "Two hours",
                value={
                    "prices": [
                        {"starts_at": "2026-01-01T13:00:00+00:00", "price_usd_per_mwh": "42.50"},
                        {"starts_at": "2026-01-01T14:00:00+00:00", "price_usd_per_mwh": "118.20"},
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        data = EnergyPricesPostInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        site = Site.objects.filter(pk=pk).first()
        if site is None:
            raise NotFoundError("No such site.")
        stored = energy_prices_post(site=site, prices=data.validated_data["prices"], now=timezone.now())
        return Response(EnergyPricesStoredSerializer(stored).data)
