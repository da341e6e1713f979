"""CSV / Excel import and export of miners (django-import-export)."""

import ipaddress
from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from calculator.models import MinerModel
from crm.models import Customer

from .models import Miner, Site


class MinerResource(resources.ModelResource):
    """One row per miner; sites, customers and models are named, not numbered.

    A miner is matched on (site, ip, port), so importing the same file twice updates instead of
    duplicating. Blank nominal figures are taken from the model catalogue.
    """

    site = fields.Field(attribute="site", column_name="site", widget=widgets.ForeignKeyWidget(Site, "name"))
    customer = fields.Field(
        attribute="customer", column_name="customer", widget=widgets.ForeignKeyWidget(Customer, "name")
    )
    miner_model = fields.Field(
        attribute="miner_model", column_name="model", widget=widgets.ForeignKeyWidget(MinerModel, "model")
    )

    class Meta:
        model = Miner
        fields = (
            "site",
            "rack",
            "position",
            "ip",
            "port",
            "miner_model",
            "firmware",
            "serial",
            "customer",
            "cgminer_enabled",
            "nominal_hashrate_ths",
            "nominal_power_w",
        )
        export_order = fields
        import_id_fields = ("site", "ip", "port")
        clean_model_instances = True
        skip_unchanged = True
        use_transactions = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        # The lookup of an existing miner by (site, ip, port) runs before field validation, so bad
        # values of those columns are named here instead of surfacing as a database error.
        problems: dict[str, list[str]] = {}
        try:
            ipaddress.IPv4Address(str(row.get("ip", "")).strip())
        except ValueError:
            problems["ip"] = [f"{row.get('ip')!r} is not an IPv4 address"]
        if not str(row.get("port", "")).strip().isdigit():
            problems["port"] = [f"{row.get('port')!r} is not a port number"]
        if problems:
            raise ValidationError(problems)
        if row.get("nominal_hashrate_ths") in (None, "") or row.get("nominal_power_w") in (None, ""):
            catalogue = MinerModel.objects.filter(model=row.get("model")).first()
            if catalogue is not None:
                if row.get("nominal_hashrate_ths") in (None, ""):
                    row["nominal_hashrate_ths"] = catalogue.hashrate_ths
                if row.get("nominal_power_w") in (None, ""):
                    row["nominal_power_w"] = catalogue.power_w
