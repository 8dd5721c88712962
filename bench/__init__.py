"""`make bench` (`python -m bench`): figures for the telemetry pipeline and the pages. Not tests.

Each benchmark is a module here with ``run(options) -> list[Figure]``, listed in
``bench.__main__.BENCHMARKS``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""  # e.g. ">= 0.5"; empty: for information

    def meets_target(self):
        if not self.target:
            return None
        operator, threshold = self.target.split()
        return self.value >= float(threshold) if operator == ">=" else self.value < float(threshold)

    def __str__(self):
        verdict = {True: "  ok", False: "  MISSED", None: ""}[self.meets_target()]
        target = f"  (target {self.target})" if self.target else ""
        value = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:.2f}"
        return f"{self.name:<40} {value:>10} {self.unit:<7}{target}{verdict}"
