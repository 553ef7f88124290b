"""Scheduled notification posts: crontab reading, report builders, APScheduler wiring."""

from __future__ import annotations
