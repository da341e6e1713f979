from django.db import migrations


class Migration(migrations.Migration):
    """Every collection run rewrites each polled miner's row (failure count, last seen). With free space
    left in each page, PostgreSQL updates those rows in place without touching the indexes (HOT)."""

    dependencies = [("hosting", "0005_add_alerts_and_operation_log")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE hosting_miners SET (fillfactor = 70)",
            reverse_sql="ALTER TABLE hosting_miners RESET (fillfactor)",
        )
    ]
