"""Money in the calculator's pages: "-$1,234.56" rather than "$-1,234.56", a dash for a missing figure."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def usd(value: object, digits: int = 2) -> str:
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return "—"
    text = f"${abs(number):,.{int(digits)}f}"
    # A loss that rounds to zero is shown as zero, not as "-$0.00".
    return f"-{text}" if number < 0 and text.strip("$0.,") else text
