"""LumboPlan: PELD planning at L5/S1 from MR."""

__version__ = "0.1.0"
