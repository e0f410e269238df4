"""The loop the probes that sample over time share: a thread that takes a sample every `interval_s`
(a missed sample leaves a gap, the next poll tries again) and appends each to a CSV as it is taken,
so an interrupted run keeps the series."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path


class CsvPoller(threading.Thread):
    columns: list[str] = []

    def __init__(self, name: str, csv_path: Path, interval_s: float) -> None:
        super().__init__(name=name, daemon=True)
        self.interval_s = interval_s
        self.samples: list = []
        self._csv_path = csv_path
        self._stopping = threading.Event()

    def run(self) -> None:
        with open(self._csv_path, "a", newline="") as f:
            writer = csv.writer(f)
            if f.tell() == 0:
                writer.writerow(self.columns)
            next_at = time.monotonic()
            while not self._stopping.is_set():
                sample = self._take_or_reconnect()
                if sample is not None:
                    self.samples.append(sample)
                    writer.writerow(self._row(sample))
                next_at += self.interval_s
                self._stopping.wait(max(0.0, next_at - time.monotonic()))
                f.flush()
        self._close()

    def _take_or_reconnect(self):
        """A sample, or None when it could not be taken (the next call reconnects)."""
        raise NotImplementedError

    def _row(self, sample) -> list:
        raise NotImplementedError

    def _close(self) -> None:
        """Close what the samples are read from, once the loop has ended."""

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        else:
            self._close()
