"""The reliability report: one line per scenario, printed at the end of the run (make reliability)."""

from __future__ import annotations

from dataclasses import dataclass

RESULTS: list[ScenarioResult] = []


@dataclass
class ScenarioResult:
    name: str
    operations: int = 0
    faults: int = 0
    lost: int = 0
    duplicated: int = 0

    def line(self) -> str:
        return (
            f"{self.name}: {self.operations} operations, {self.faults} faults, {self.lost} lost, "
            f"{self.duplicated} duplicated"
        )


def record(result: ScenarioResult) -> ScenarioResult:
    RESULTS.append(result)
    return result
