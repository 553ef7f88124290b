"""Slack adapter (`client`, `directory`) and transport (`listeners`, `middleware`)."""
