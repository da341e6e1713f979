"""Indicator computation over the full shipped daily history: the pandas code against plain Python loops.

Both compute RSI(14), MACD(12, 26, 9) and Bollinger(20, 2) from the same closes in this run; each is
timed as the best of several repeats, and the two results are compared so a fast wrong answer shows.
Reads only the shipped CSV, writes nothing. The last line is one JSON object with the figures.
"""

import json
import math
import time
from collections.abc import Callable

import _django

_django.setup()

import pandas as pd

from analytics.offline_data import DATASETS, offline_dataset_rows
from analytics.services.indicators import INDICATOR_COLUMNS, indicators_compute

REPEATS = 20


def _closes() -> list[float]:
    dataset = next(d for d in DATASETS if d.name == "btc_usd_daily")
    return [float(row["close"]) for row in offline_dataset_rows(dataset=dataset)]


def _ema(values: list[float | None], span: int) -> list[float | None]:
    alpha, ema = 2 / (span + 1), None
    out: list[float | None] = []
    for value in values:
        if value is not None:
            ema = value if ema is None else ema + alpha * (value - ema)
        out.append(None if value is None else ema)
    return out


def python_loop(closes: list[float]) -> dict[str, list[float | None]]:
    """The same indicators, one close at a time, with no numerical library."""
    n = len(closes)
    rsi: list[float | None] = [None] * n
    gains = losses = avg_gain = avg_loss = 0.0
    for i in range(1, n):
        change = closes[i] - closes[i - 1]
        gain, loss = max(change, 0.0), max(-change, 0.0)
        if i < 14:
            gains, losses = gains + gain, losses + loss
            continue
        if i == 14:
            avg_gain, avg_loss = (gains + gain) / 14, (losses + loss) / 14
        else:
            avg_gain, avg_loss = (avg_gain * 13 + gain) / 14, (avg_loss * 13 + loss) / 14
        rsi[i] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)

    fast, slow = _ema(list(closes), 12), _ema(list(closes), 26)
    macd: list[float | None] = [None] * n
    for i in range(25, n):
        f, s = fast[i], slow[i]
        macd[i] = None if f is None or s is None else f - s
    signal = [None if i < 33 else v for i, v in enumerate(_ema(macd, 9))]
    hist = [None if m is None or s is None else m - s for m, s in zip(macd, signal, strict=True)]

    mid: list[float | None] = [None] * n
    upper: list[float | None] = [None] * n
    lower: list[float | None] = [None] * n
    for i in range(19, n):
        window = closes[i - 19 : i + 1]
        mean = sum(window) / 20
        deviation = math.sqrt(sum((x - mean) ** 2 for x in window) / 20)
        mid[i], upper[i], lower[i] = mean, mean + 2 * deviation, mean - 2 * deviation
    return {
        "rsi_14": rsi,
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_mid": mid,
        "bb_upper": upper,
        "bb_lower": lower,
    }


def _best_of(run: Callable[[], object]) -> float:
    best = math.inf
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _max_relative_difference(frame: pd.DataFrame, loop: dict[str, list[float | None]]) -> float:
    worst = 0.0
    for column in INDICATOR_COLUMNS:
        for ours, theirs in zip(frame[column].tolist(), loop[column], strict=True):
            if theirs is None:
                if not math.isnan(ours):
                    return math.inf
                continue
            worst = max(worst, abs(ours - theirs) / max(abs(theirs), 1e-12))
    return worst


def main() -> None:
    closes = _closes()
    series = pd.Series(closes, dtype=float)

    seconds = _best_of(lambda: indicators_compute(close=pd.Series(closes, dtype=float)))
    baseline_seconds = _best_of(lambda: python_loop(closes))
    difference = _max_relative_difference(indicators_compute(close=series), python_loop(closes))

    print(
        json.dumps(
            {
                "bench": "indicators",
                "rows": len(closes),
                "indicators": list(INDICATOR_COLUMNS),
                "repeats": REPEATS,
                "seconds": round(seconds, 6),
                "baseline": "python_loop",
                "baseline_seconds": round(baseline_seconds, 6),
                "ratio": round(baseline_seconds / seconds, 2),
                "max_relative_difference": difference,
            }
        )
    )


if __name__ == "__main__":
    main()
