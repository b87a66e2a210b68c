"""Figures and HTML templates for the reproduce report and the audit page."""
