"""Create miner_telemetry as a table partitioned by day on recorded_at.

Django does not manage the table (Meta.managed = False): partitions are created ahead of time and
dropped after the retention period by hosting.services.telemetry_partitions. There is no foreign key
to hosting_miners: checking one per row would slow COPY, and retention, not cascades, removes old rows.
"""

from django.db import migrations

CREATE = """
CREATE TABLE miner_telemetry (
    miner_id bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    site_id bigint NOT NULL,
    outcome varchar(16) NOT NULL,
    hashrate_ths double precision,
    hashrate_avg_ths double precision,
    power_w integer,
    board_temp_max_c double precision,
    chip_temp_max_c double precision,
    fan_rpm_min integer,
    fan_rpm_max integer,
    boards_alive smallint,
    accepted_shares bigint,
    rejected_shares bigint,
    hardware_errors bigint,
    elapsed_s bigint,
    is_sleeping boolean,
    PRIMARY KEY (miner_id, recorded_at)
) PARTITION BY RANGE (recorded_at);
CREATE INDEX miner_telemetry_site_time_idx ON miner_telemetry (site_id, recorded_at);
"""


class Migration(migrations.Migration):
    dependencies = [("hosting", "0003_add_telemetry")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP TABLE miner_telemetry;")]
