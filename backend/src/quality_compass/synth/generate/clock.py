"""Time in a generated run: timestamps derived from the run id, and month arithmetic.

No wall clock anywhere: the same run id always gives the same timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class RunClock:
    """Deterministic timestamps derived from the run id (no wall clock anywhere)."""

    def __init__(self, run_id: str) -> None:
        local = datetime.strptime(run_id, "%Y%m%d%H%M%S")
        # Container runs: the run id is local time (UTC-6) and the engine starts ~1 min later.
        self.started = (local + timedelta(hours=6, seconds=80)).replace(tzinfo=UTC)

    def at(self, seconds: float) -> datetime:
        return self.started + timedelta(seconds=seconds)

    @staticmethod
    def seconds_iso(moment: datetime) -> str:
        return moment.isoformat(timespec="seconds")

    @staticmethod
    def micro_iso(moment: datetime) -> str:
        return moment.isoformat(timespec="microseconds")

    @staticmethod
    def z_iso(moment: datetime) -> str:
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def series(self, start_seconds: float, count: int, step_us: int, suffix: str) -> list[str]:
        """``count`` increasing timestamps (microsecond precision) with the given suffix."""
        base = self.at(start_seconds)
        day_prefix_cache: dict[int, str] = {}
        base_us = base.hour * 3_600_000_000 + base.minute * 60_000_000 + base.second * 1_000_000
        base_us += base.microsecond
        out: list[str] = []
        for i in range(count):
            total = base_us + i * step_us
            seconds, micro = divmod(total, 1_000_000)
            prefix = day_prefix_cache.get(seconds)
            if prefix is None:
                moment = datetime(base.year, base.month, base.day, tzinfo=UTC) + timedelta(
                    seconds=seconds
                )
                prefix = moment.strftime("%Y-%m-%dT%H:%M:%S.")
                day_prefix_cache[seconds] = prefix
            out.append(f"{prefix}{micro:06d}{suffix}")
        return out


def add_months(period: str, months: int) -> str:
    """``YYYYMM`` plus ``months`` (negative to go back)."""
    year, month = int(period[:4]), int(period[4:])
    total = year * 12 + (month - 1) + months
    return f"{total // 12:04d}{total % 12 + 1:02d}"


#: Seconds after ``started_at`` when the contribution stage starts; the classification
#: stage follows it. Each node task gets its own slot of ``TASK_SLOT`` seconds in each
#: stage, so timestamps never depend on how the tasks were scheduled.
CONTRIBUTION_STAGE = 420.0
TASK_SLOT = 30.0
