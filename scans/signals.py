"""Signals the scans app sends, for the apps above it (notifications) to act on without being imported here."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once a scan's outcome is committed: scan=Scan, news=scans.tracking.News for a scan that recorded
# results, None for one that failed. Receivers must not raise (a broken receiver must not fail the scan):
# send_robust is used.
scan_finished = Signal()
